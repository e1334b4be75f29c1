//! Groups driven through their real sync cores over a lossy in-memory network.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use automerge::transaction::Transactable;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::gate::{Refusal, VOUCH_DOMAIN, Vouch};
use super::groups::{GroupOutput, Groups};
use super::*;
use crate::identity::Identity;
use crate::payload::GroupFragment;
use crate::store::StoreOp;

pub(crate) struct Node {
    pub id: Identity,
    pub groups: Groups,
    /// Its store's group file chunks (what the engine would keep).
    pub chunks: BTreeMap<(GroupId, [u8; 16], u32), Vec<u8>>,
}

impl Node {
    fn me(&self) -> NewMember {
        NewMember {
            identity: self.id.key(),
            name: format!("n{}", &self.id.key().short()),
            static_key: self.id.static_key(),
            devices: Vec::new(),
        }
    }
}

/// A network of nodes. `link[a][b]` says whether a session is up between them.
pub(crate) struct Net {
    pub nodes: Vec<Node>,
    up: Vec<Vec<bool>>,
    pub(crate) queue: VecDeque<(usize, usize, GroupFragment, bool)>,
    pub rng: ChaCha20Rng,
    pub loss: u32,
    pub dup: u32,
    pub reorder: bool,
    /// Nodes switched off: nothing reaches them, not even the mesh.
    pub offline: BTreeSet<usize>,
    now: u64,
}

impl Net {
    pub fn new(n: usize, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let nodes = (0..n)
            .map(|_| {
                let id = Identity::generate(&mut rng);
                let groups = Groups::new(&id, true, [rng.next_u32() as u8; 32]);
                Node {
                    id,
                    groups,
                    chunks: BTreeMap::new(),
                }
            })
            .collect();
        Self {
            nodes,
            up: vec![vec![false; n]; n],
            queue: VecDeque::new(),
            rng,
            loss: 0,
            dup: 0,
            reorder: false,
            offline: BTreeSet::new(),
            now: 1_000_000,
        }
    }

    pub fn now(&mut self) -> Time {
        self.now += 1000;
        Time::from_millis(self.now)
    }

    fn index_of(&self, key: &IdentityKey) -> usize {
        self.nodes.iter().position(|n| n.id.key() == *key).unwrap()
    }

    pub fn connect(&mut self, a: usize, b: usize) {
        if a == b || self.up[a][b] {
            return;
        }
        self.up[a][b] = true;
        self.up[b][a] = true;
        let (ka, kb) = (self.nodes[a].id.key(), self.nodes[b].id.key());
        self.nodes[a].groups.peer_up(kb);
        self.nodes[b].groups.peer_up(ka);
        self.collect(a);
        self.collect(b);
    }

    pub fn disconnect(&mut self, a: usize, b: usize) {
        if !self.up[a][b] {
            return;
        }
        self.up[a][b] = false;
        self.up[b][a] = false;
        let (ka, kb) = (self.nodes[a].id.key(), self.nodes[b].id.key());
        self.nodes[a].groups.peer_down(&kb);
        self.nodes[b].groups.peer_down(&ka);
        self.queue
            .retain(|(f, t, _, s)| !*s || !((*f == a && *t == b) || (*f == b && *t == a)));
    }

    pub fn collect(&mut self, from: usize) {
        let mut changed = Vec::new();
        while let Some(out) = self.nodes[from].groups.poll_output() {
            match out {
                GroupOutput::Send { peer, fragment } => {
                    let to = self.index_of(&peer);
                    if self.up[from][to] {
                        self.queue.push_back((from, to, fragment, true));
                    } else {
                        self.nodes[from].groups.peer_down(&peer);
                    }
                }
                GroupOutput::Mesh { peer, fragment } => {
                    let to = self.index_of(&peer);
                    self.queue.push_back((from, to, fragment, false));
                }
                GroupOutput::Changed(id) => changed.push(id),
                GroupOutput::Store(StoreOp::PutGroupChunk {
                    group,
                    file,
                    index,
                    data,
                }) => {
                    self.nodes[from].chunks.insert((group, file, index), data);
                }
                GroupOutput::Store(StoreOp::EraseGroupFile { group, file }) => {
                    self.nodes[from]
                        .chunks
                        .retain(|(g, f, _), _| (*g, *f) != (group, file));
                }
                GroupOutput::Store(_) => {}
                GroupOutput::Serve {
                    peer,
                    group,
                    file,
                    from: first,
                    count,
                } => {
                    let to = self.index_of(&peer);
                    for index in first..first + count {
                        let Some(data) =
                            self.nodes[from].chunks.get(&(group, file, index)).cloned()
                        else {
                            break;
                        };
                        let fragment = self.nodes[from].groups.file_chunk(group, file, index, data);
                        if self.up[from][to] {
                            self.queue.push_back((from, to, fragment, true));
                        }
                    }
                }
            }
        }
        // As the engine does: an admin starts the epoch a member's
        // revocation of its device asked for.
        let mut rotated = false;
        for id in changed {
            let now = self.now();
            let node = &mut self.nodes[from];
            rotated |= node.groups.rotate_if_owed(&node.id, &id, now);
        }
        if rotated {
            self.collect(from);
        }
    }

    /// Delivers one queued fragment (with loss, duplication, reordering).
    pub fn step(&mut self) -> bool {
        let pick = if self.reorder && self.queue.len() > 1 {
            // Any fragment may overtake another, except within one session.
            let i = (self.rng.next_u32() as usize) % self.queue.len();
            let (f, t, _, s) = &self.queue[i];
            if *s {
                let (f, t) = (*f, *t);
                self.queue
                    .iter()
                    .position(|(a, b, _, s)| *s && *a == f && *b == t)
                    .unwrap_or(i)
            } else {
                i
            }
        } else {
            0
        };
        let Some((from, to, frag, session)) = self.queue.remove(pick) else {
            return false;
        };
        if (session && !self.up[from][to]) || self.offline.contains(&to) {
            return true;
        }
        // Sessions run over reliable, ordered streams whose Noise layer drops
        // replays: there, a loss means the link (and the session) died. The
        // mesh loses, duplicates and reorders whole pushes.
        if self.loss > 0 && self.rng.next_u32() % 100 < self.loss {
            if session {
                self.disconnect(from, to);
            }
            return true;
        }
        if !session && self.dup > 0 && self.rng.next_u32() % 100 < self.dup {
            self.queue.push_back((from, to, frag.clone(), session));
        }
        let key = self.nodes[from].id.key();
        self.nodes[to].groups.on_fragment(key, frag, session, true);
        self.collect(to);
        true
    }

    /// Delivers until nothing is left; panics if `max` steps do not get
    /// there (the sync would be looping).
    pub fn run(&mut self, max: usize) {
        for _ in 0..max {
            if !self.step() {
                return;
            }
        }
        let kinds: Vec<String> = self
            .queue
            .iter()
            .take(6)
            .map(|(f, t, fr, s)| {
                format!(
                    "{f}->{t} {} {}B",
                    if *s { "sync" } else { "push" },
                    fr.data.len()
                )
            })
            .collect();
        panic!(
            "still {} fragments in flight after {max} steps: {kinds:?}",
            self.queue.len()
        );
    }

    /// Delivers at most `max` fragments.
    pub fn run_some(&mut self, max: usize) {
        for _ in 0..max {
            if !self.step() {
                return;
            }
        }
    }

    /// Heals everything and syncs until nothing moves.
    pub fn settle(&mut self) {
        self.loss = 0;
        self.dup = 0;
        self.reorder = false;
        let n = self.nodes.len();
        for a in 0..n {
            for b in 0..n {
                self.disconnect(a, b);
            }
        }
        self.queue.clear();
        for a in 0..n {
            for b in a + 1..n {
                self.connect(a, b);
            }
        }
        for _ in 0..4 {
            self.run(200_000);
            for i in 0..n {
                self.nodes[i].groups.tick();
                self.collect(i);
            }
        }
        self.run(200_000);
    }

    pub fn create(&mut self, who: usize, name: &str) -> GroupId {
        let now = self.now();
        let me = self.nodes[who].me();
        let node = &mut self.nodes[who];
        let id = node.groups.create(&node.id, me, name, now).unwrap();
        self.collect(who);
        id
    }

    pub fn add(
        &mut self,
        who: usize,
        g: &GroupId,
        whom: usize,
        role: Role,
    ) -> Result<(), GroupError> {
        let now = self.now();
        let new = self.nodes[whom].me();
        let node = &mut self.nodes[who];
        let r = node.groups.add(&node.id, g, new, role, now);
        self.collect(who);
        r
    }

    pub fn remove(&mut self, who: usize, g: &GroupId, whom: usize) -> Result<(), GroupError> {
        let now = self.now();
        let key = self.nodes[whom].id.key();
        let node = &mut self.nodes[who];
        let r = node.groups.remove(&node.id, g, &key, now);
        self.collect(who);
        r
    }

    pub fn set_role(
        &mut self,
        who: usize,
        g: &GroupId,
        whom: usize,
        role: Role,
    ) -> Result<(), GroupError> {
        let now = self.now();
        let key = self.nodes[whom].id.key();
        let node = &mut self.nodes[who];
        let r = node.groups.set_role(&node.id, g, &key, role, now);
        self.collect(who);
        r
    }

    fn role(&self, who: usize, g: &GroupId, whom: usize) -> Option<Role> {
        let key = self.nodes[whom].id.key();
        self.nodes[who].groups.get(g)?.doc.role_of(&key)
    }

    pub fn post(&mut self, who: usize, g: &GroupId, text: &str) -> Result<(), GroupError> {
        let now = self.now();
        let mut random = [0u8; 8];
        self.rng.fill_bytes(&mut random);
        let node = &mut self.nodes[who];
        let r = node
            .groups
            .post(&node.id, g, message_id(now, random), text, now);
        self.collect(who);
        r
    }

    pub fn texts(&self, who: usize, g: &GroupId) -> Vec<String> {
        self.nodes[who]
            .groups
            .get(g)
            .map(|g| g.messages().into_iter().map(|m| m.text).collect())
            .unwrap_or_default()
    }

    pub fn heads(&mut self, who: usize, g: &GroupId) -> Vec<automerge::ChangeHash> {
        self.nodes[who]
            .groups
            .get_mut(g)
            .map(|g| g.doc.heads())
            .unwrap_or_default()
    }

    pub fn members(&self, who: usize, g: &GroupId) -> Vec<IdentityKey> {
        self.nodes[who]
            .groups
            .get(g)
            .map(|g| g.members().into_iter().map(|m| m.identity).collect())
            .unwrap_or_default()
    }
}

/// Node 0 creates "walkers" with nodes 1 and 2 as members, linked to both,
/// and lets it settle.
pub(crate) fn walkers(net: &mut Net) -> GroupId {
    let g = net.create(0, "walkers");
    net.add(0, &g, 1, Role::Member).unwrap();
    net.add(0, &g, 2, Role::Member).unwrap();
    net.connect(0, 1);
    net.connect(0, 2);
    net.run(10_000);
    g
}

#[test]
fn three_members_chat_and_a_removed_one_gets_nothing_after() {
    let mut net = Net::new(3, 1);
    let g = walkers(&mut net);
    net.post(1, &g, "hello from bob").unwrap();
    net.run(10_000);
    assert_eq!(net.texts(2, &g), vec!["hello from bob"]);
    net.remove(0, &g, 2).unwrap();
    net.run(10_000);
    net.post(0, &g, "after carol left").unwrap();
    net.post(1, &g, "bob too").unwrap();
    net.run(10_000);
    net.connect(1, 2);
    net.run(10_000);
    assert_eq!(net.texts(2, &g), vec!["hello from bob"]);
    assert_eq!(net.texts(1, &g).len(), 3);
    assert_eq!(net.members(1, &g).len(), 2);
}

#[test]
fn an_absent_member_catches_up_from_someone_other_than_the_author() {
    let mut net = Net::new(3, 2);
    let g = walkers(&mut net);
    net.disconnect(0, 2);
    net.offline.insert(2);
    for i in 0..500 {
        net.post(0, &g, &format!("message {i}")).unwrap();
        net.run(1_000);
    }
    net.disconnect(0, 1);
    net.offline.clear();
    assert_eq!(net.texts(1, &g).len(), 500);
    assert_eq!(net.texts(2, &g).len(), 0);
    net.connect(1, 2);
    net.run(100_000);
    assert_eq!(net.texts(2, &g).len(), 500);
    assert_eq!(net.heads(2, &g), net.heads(1, &g));
}

#[test]
fn a_new_member_gets_the_whole_history_in_fragments() {
    let mut net = Net::new(2, 3);
    let g = net.create(0, "big");
    let text = "x".repeat(1000);
    for _ in 0..300 {
        net.post(0, &g, &text).unwrap();
    }
    net.add(0, &g, 1, Role::Member).unwrap();
    net.connect(0, 1);
    net.run(100_000);
    assert_eq!(net.texts(1, &g).len(), 300);
}

/// A change made by hand on a copy of the document, as an attacker would,
/// signed by `signer`.
fn forged(
    base: &mut GroupDoc,
    actor: &IdentityKey,
    signer: &Identity,
    edit: impl FnOnce(&mut AutoCommit, &Layout),
) -> (automerge::Change, Vouch) {
    let heads = base.heads();
    let mut doc = base.doc.fork().with_actor(actor_of(actor));
    let layout = base.layout.clone().unwrap();
    edit(&mut doc, &layout);
    doc.commit();
    let c = doc.get_changes(&heads).pop().unwrap();
    let v = Vouch {
        hash: c.hash(),
        author: signer.key(),
        sig: signer.sign(VOUCH_DOMAIN, &c.hash().0),
    };
    (c, v)
}

#[test]
fn forged_and_non_member_changes_are_refused() {
    let mut net = Net::new(3, 4);
    let g = net.create(0, "walkers");
    net.add(0, &g, 1, Role::Member).unwrap();
    let admin = net.nodes[0].id.key();
    let (bob, carol) = (
        Identity::from_secret_bytes(&net.nodes[1].id.to_secret_bytes()),
        Identity::from_secret_bytes(&net.nodes[2].id.to_secret_bytes()),
    );
    let mut base =
        GroupDoc::load(&net.nodes[0].groups.get_mut(&g).unwrap().doc.save(), &admin).unwrap();
    let hex_of = |k: &IdentityKey| hex(k.as_bytes());
    let cases: Vec<((automerge::Change, Vouch), Refusal)> = vec![
        // A member adding someone.
        (
            forged(&mut base, &bob.key(), &bob, |d, l| {
                d.put(&l.members, hex_of(&carol.key()), "admin").unwrap();
                d.commit_with(
                    automerge::transaction::CommitOptions::default().with_message(ADMIN_MARK),
                );
            }),
            Refusal::AdminOnly("membership and settings"),
        ),
        // A member adding someone without the admin mark.
        (
            forged(&mut base, &bob.key(), &bob, |d, l| {
                d.put(&l.members, hex_of(&carol.key()), "member").unwrap();
            }),
            Refusal::AdminOnly("membership and settings"),
        ),
        // A member posting under the admin's name.
        (
            forged(&mut base, &bob.key(), &bob, |d, l| {
                let key = format!("{}/{}", hex_of(&admin), MessageId([9; 16]));
                d.put(&l.messages, key, "I resign").unwrap();
            }),
            Refusal::Impersonation,
        ),
        // A stranger posting, signed by themselves.
        (
            forged(&mut base, &carol.key(), &carol, |d, l| {
                let key = format!("{}/{}", hex_of(&carol.key()), MessageId([8; 16]));
                d.put(&l.messages, key, "let me in").unwrap();
            }),
            Refusal::NotMember,
        ),
        // A member's change signed by someone else: not vouched for.
        (
            forged(&mut base, &bob.key(), &carol, |d, l| {
                let key = format!("{}/{}", hex_of(&bob.key()), MessageId([7; 16]));
                d.put(&l.messages, key, "hi").unwrap();
            }),
            Refusal::Unsigned,
        ),
        // The admin's actor, signed by bob: a forgery of the admin.
        (
            forged(&mut base, &admin, &bob, |d, _| {
                d.put(ROOT, "name", "mine now").unwrap();
                d.commit_with(
                    automerge::transaction::CommitOptions::default().with_message(ADMIN_MARK),
                );
            }),
            Refusal::Unsigned,
        ),
    ];
    for ((change, vouch), why) in cases {
        let group = net.nodes[0].groups.get_mut(&g).unwrap();
        let heads = group.doc.heads();
        let out = group.gate_receive(vec![change], &[vouch]).unwrap();
        assert_eq!(out.accepted, 0, "{why:?}");
        if why == Refusal::Unsigned {
            assert!(
                out.refused.is_empty() && out.unsigned >= 1,
                "waits for a signature"
            );
        } else {
            assert_eq!(out.refused.first().map(|r| r.1.clone()), Some(why));
        }
        assert_eq!(group.doc.heads(), heads, "nothing was applied");
    }
    // An actor id that is not a key.
    let heads = base.heads();
    let mut x = base
        .doc
        .fork()
        .with_actor(automerge::ActorId::from(&[7u8; 5][..]));
    x.put(ROOT, "topic", "x").unwrap();
    x.commit();
    let c = x.get_changes(&heads).pop().unwrap();
    let group = net.nodes[0].groups.get_mut(&g).unwrap();
    let out = group.gate_receive(vec![c], &[]).unwrap();
    assert_eq!(out.accepted, 0);
}

#[test]
fn an_admin_makes_a_member_admin_who_can_then_add_and_step_down() {
    let mut net = Net::new(4, 11);
    let g = net.create(0, "night shift");
    net.add(0, &g, 1, Role::Member).unwrap();
    net.add(0, &g, 2, Role::Member).unwrap();
    net.settle();
    // A member cannot promote anyone, themselves included.
    assert!(matches!(
        net.set_role(1, &g, 1, Role::Admin),
        Err(GroupError::NotAdmin)
    ));
    net.set_role(0, &g, 1, Role::Admin).unwrap();
    assert!(matches!(
        net.set_role(0, &g, 1, Role::Admin),
        Err(GroupError::SameRole("admin"))
    ));
    net.settle();
    for i in 0..3 {
        assert_eq!(net.role(i, &g, 1), Some(Role::Admin), "seen by {i}");
    }
    // The new admin's own admin change is accepted everywhere.
    net.add(1, &g, 3, Role::Member).unwrap();
    net.settle();
    for i in 0..4 {
        assert!(net.members(i, &g).contains(&net.nodes[3].id.key()), "{i}");
    }
    // The creator steps down; the last admin cannot.
    net.set_role(0, &g, 0, Role::Member).unwrap();
    net.settle();
    for i in 0..4 {
        assert_eq!(net.role(i, &g, 0), Some(Role::Member), "seen by {i}");
    }
    assert!(matches!(
        net.set_role(1, &g, 1, Role::Member),
        Err(GroupError::LastAdmin)
    ));
    assert!(matches!(
        net.add(0, &g, 2, Role::Admin),
        Err(GroupError::NotAdmin)
    ));
}

#[test]
fn two_admins_removing_each_other_are_both_removed_everywhere() {
    let mut net = Net::new(4, 5);
    let g = net.create(0, "walkers");
    net.add(0, &g, 1, Role::Admin).unwrap();
    net.add(0, &g, 2, Role::Member).unwrap();
    net.add(0, &g, 3, Role::Member).unwrap();
    net.settle();
    // Apart, each removes the other; a member is added and removed at once.
    for a in 0..4 {
        for b in 0..4 {
            net.disconnect(a, b);
        }
    }
    net.remove(0, &g, 1).unwrap();
    net.remove(1, &g, 0).unwrap();
    net.remove(1, &g, 3).unwrap();
    net.add(0, &g, 3, Role::Admin).unwrap();
    net.post(2, &g, "still here").unwrap();
    net.queue.clear();
    // Deliver to 2 in one order, to 3 in the other.
    net.connect(2, 0);
    net.run(10_000);
    net.connect(2, 1);
    net.run(10_000);
    net.connect(3, 1);
    net.run(10_000);
    net.connect(3, 0);
    net.run(10_000);
    net.connect(2, 3);
    net.run(10_000);
    let k = |i: usize| net.nodes[i].id.key();
    let m2 = net.members(2, &g);
    assert!(
        !m2.contains(&k(0)) && !m2.contains(&k(1)),
        "both removals stand"
    );
    // Admin 0's promotion of 3 came after 1 removed 0 (concurrently): the
    // removal's cut-off voids it (THREAT_MODEL.md, "Attacks tried" 2), so
    // 1's removal of 3 stands too. (3 itself does not hear of it: members
    // stop syncing with someone they hold removed — docs/GROUPS.md.)
    assert_eq!(m2, vec![k(2)]);
    assert_eq!(net.texts(2, &g), vec!["still here"]);
}

#[test]
fn an_add_concurrent_with_a_removal_wins_when_the_adder_stays() {
    let mut net = Net::new(4, 7);
    let g = net.create(0, "walkers");
    net.add(0, &g, 1, Role::Admin).unwrap();
    net.add(0, &g, 2, Role::Member).unwrap();
    net.add(0, &g, 3, Role::Member).unwrap();
    net.settle();
    for a in 0..4 {
        for b in 0..4 {
            net.disconnect(a, b);
        }
    }
    net.remove(1, &g, 3).unwrap();
    net.set_role(0, &g, 3, Role::Admin).unwrap();
    net.queue.clear();
    net.connect(2, 0);
    net.run(10_000);
    net.connect(2, 1);
    net.run(10_000);
    net.connect(3, 1);
    net.run(10_000);
    net.connect(3, 0);
    net.run(10_000);
    net.connect(2, 3);
    net.run(10_000);
    let (m2, m3) = (net.members(2, &g), net.members(3, &g));
    assert_eq!(m2, m3);
    assert_eq!(net.heads(2, &g), net.heads(3, &g));
    assert!(m2.contains(&net.nodes[3].id.key()), "the promotion wins");
    assert_eq!(net.role(2, &g, 3), Some(Role::Admin));
}

/// The 30-member run: random partitions, posts, removals and re-adds under
/// loss, duplication and reordering; then everyone connects. Returns the
/// net and the group for checks.
/// What the 30-member run did that must show at the end.
struct Done {
    /// (author, text) of every post that was accepted locally.
    posts: Vec<(usize, String)>,
    /// Everyone an admin removed at some point.
    removed: BTreeSet<usize>,
}

fn thirty(seed: u64, loss: u32, dup: u32, steps: usize) -> (Net, GroupId, Done) {
    let n = 30;
    let mut net = Net::new(n, seed);
    let g = net.create(0, "village");
    for i in 1..n {
        let role = if i < 3 { Role::Admin } else { Role::Member };
        net.add(0, &g, i, role).unwrap();
    }
    net.settle();
    net.loss = loss;
    net.dup = dup;
    net.reorder = true;
    let mut done = Done {
        posts: Vec::new(),
        removed: BTreeSet::new(),
    };
    for _ in 0..steps {
        // A random partition: two halves, a few links across.
        let r = net.rng.next_u32();
        for a in 0..n {
            for b in a + 1..n {
                let same = (a as u32 * 7 + r) % 2 == (b as u32 * 7 + r) % 2;
                if same && net.rng.next_u32().is_multiple_of(4) {
                    net.connect(a, b);
                } else if net.rng.next_u32().is_multiple_of(3) {
                    net.disconnect(a, b);
                }
            }
        }
        for _ in 0..3 {
            let who = (net.rng.next_u32() as usize) % n;
            let text = format!("hello {}", done.posts.len());
            if net.post(who, &g, &text).is_ok() {
                done.posts.push((who, text));
            }
        }
        match net.rng.next_u32() % 10 {
            0 => {
                let admin = (net.rng.next_u32() as usize) % 3;
                let whom = 3 + (net.rng.next_u32() as usize) % (n - 3);
                if net.remove(admin, &g, whom).is_ok() {
                    done.removed.insert(whom);
                }
            }
            1 => {
                let admin = (net.rng.next_u32() as usize) % 3;
                let whom = 3 + (net.rng.next_u32() as usize) % (n - 3);
                let _ = net.add(admin, &g, whom, Role::Member);
            }
            _ => {}
        }
        let budget = 200 + (net.rng.next_u32() as usize) % 2000;
        net.run_some(budget);
    }
    net.settle();
    (net, g, done)
}

/// Every post by someone never removed reaches, readable, everyone never
/// removed: the operations took effect, not only the replicas agree.
fn posts_took_effect(net: &Net, g: &GroupId, done: &Done) -> Result<(), String> {
    let stayed: Vec<usize> = (0..net.nodes.len())
        .filter(|i| !done.removed.contains(i))
        .collect();
    for &reader in &stayed {
        let seen: BTreeSet<String> = net.texts(reader, g).into_iter().collect();
        for (author, text) in &done.posts {
            if stayed.contains(author) && !seen.contains(text) {
                return Err(format!("{reader} never read {text:?} by {author}"));
            }
        }
    }
    Ok(())
}

proptest! {
    // A failing case takes seconds to rerun: shrink for at most a minute so
    // the failure is reported before the test is killed as hung.
    #![proptest_config(ProptestConfig { cases: 6, max_shrink_time: 60_000, ..ProptestConfig::default() })]

    /// 30 members under random partitions, loss, duplication and reordering:
    /// once connected, every member has the same heads and member list.
    #[test]
    fn thirty_members_converge(seed in any::<u64>(), loss in 0u32..30, dup in 0u32..20, steps in 20usize..60) {
        let (mut net, g, done) = thirty(seed, loss, dup, steps);
        let n = net.nodes.len();
        prop_assert!(!done.posts.is_empty());
        if let Err(e) = posts_took_effect(&net, &g, &done) {
            prop_assert!(false, "{}", e);
        }
        // Every member (at the admin's view) agrees with every other.
        let members: BTreeSet<IdentityKey> = net.members(0, &g).into_iter().collect();
        let in_group: Vec<usize> = (0..n).filter(|i| members.contains(&net.nodes[*i].id.key())).collect();
        prop_assert!(!in_group.is_empty());
        let first = in_group[0];
        let heads = net.heads(first, &g);
        let list = net.members(first, &g);
        for &i in &in_group {
            prop_assert_eq!(&net.heads(i, &g), &heads, "heads of member {}", i);
            prop_assert_eq!(&net.members(i, &g), &list, "members at {}", i);
        }
    }
}

#[test]
fn after_a_removal_text_is_sealed_under_a_key_the_removed_member_never_gets() {
    let mut net = Net::new(4, 11);
    let g = walkers(&mut net);
    net.post(0, &g, "before").unwrap();
    net.run(10_000);
    net.remove(0, &g, 2).unwrap();
    net.run(10_000);
    net.post(0, &g, "secret after").unwrap();
    net.post(1, &g, "bob after").unwrap();
    net.run(10_000);
    assert_eq!(
        net.texts(1, &g),
        vec!["before", "secret after", "bob after"]
    );
    // The document itself holds only ciphertext for those two.
    let raw: Vec<String> = net.nodes[1]
        .groups
        .get(&g)
        .unwrap()
        .doc
        .messages()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(raw[1].starts_with(keys::SEALED_PREFIX) && !raw[1].contains("secret"));

    // A careless bob hands carol everything he has, signatures included.
    let carol_heads = net.heads(2, &g);
    let changes = net.nodes[1]
        .groups
        .get_mut(&g)
        .unwrap()
        .doc
        .changes_since(&carol_heads);
    let mut newest: std::collections::BTreeMap<Vec<u8>, automerge::Change> = Default::default();
    for c in &changes {
        let e = newest
            .entry(c.actor_id().to_bytes().to_vec())
            .or_insert_with(|| c.clone());
        if c.seq() > e.seq() {
            *e = c.clone();
        }
    }
    let vouches: Vec<Vouch> = newest
        .values()
        .map(|c| {
            let who = net
                .nodes
                .iter()
                .find(|n| n.id.key().as_bytes().as_slice() == c.actor_id().to_bytes())
                .unwrap();
            Vouch {
                hash: c.hash(),
                author: who.id.key(),
                sig: who.id.sign(VOUCH_DOMAIN, &c.hash().0),
            }
        })
        .collect();
    let carol = net.nodes[2].groups.get_mut(&g).unwrap();
    let out = carol.gate_receive(changes, &vouches).unwrap();
    // The two posts written after her removal (she was shown the removal).
    assert_eq!(out.accepted, 2, "{out:?}");
    assert_eq!(
        net.texts(2, &g),
        vec!["before", groups::SEALED_TEXT, groups::SEALED_TEXT],
        "carol holds the changes but cannot read them"
    );

    // Someone added after the removal gets the current key and reads on.
    net.add(0, &g, 3, Role::Member).unwrap();
    net.connect(0, 3);
    net.run(10_000);
    net.post(1, &g, "welcome").unwrap();
    net.run(10_000);
    net.connect(1, 3);
    net.run(10_000);
    assert_eq!(
        net.texts(3, &g),
        vec!["before", "secret after", "bob after", "welcome"]
    );
}

/// Cases `thirty_members_converge` found in CI. In both, a member ended up
/// holding changes it could not apply while every peer believed it had
/// sent everything: a peer's bloom filter had taken one of the member's
/// absent changes for present, and the member asked for the heads it held
/// waiting (which a peer never resends in one session) instead of for their
/// missing deps. `Gate::generate` now asks for the deps.
fn converges_with_nothing_waiting(seed: u64, loss: u32, dup: u32, steps: usize) {
    let (mut net, g, done) = thirty(seed, loss, dup, steps);
    posts_took_effect(&net, &g, &done).unwrap();
    let members: BTreeSet<IdentityKey> = net.members(0, &g).into_iter().collect();
    let heads = net.heads(0, &g);
    for i in 0..net.nodes.len() {
        if members.contains(&net.nodes[i].id.key()) {
            let waiting = net.nodes[i].groups.get(&g).map_or(0, |grp| grp.waiting());
            assert_eq!(waiting, 0, "member {i} has changes it cannot apply");
            assert_eq!(net.heads(i, &g), heads, "heads of member {i}");
        }
    }
}

#[test]
fn thirty_members_regression_seed_5335243067491099875() {
    converges_with_nothing_waiting(5_335_243_067_491_099_875, 29, 17, 31);
}

#[test]
fn thirty_members_regression_seed_17889491547295290559() {
    converges_with_nothing_waiting(17_889_491_547_295_290_559, 13, 2, 22);
}

/// Found by the property in a loop: two members each held the other's
/// removal (by two admins, concurrently), so each treated the other as a
/// former member and only echoed its heads back; the echoes differed each
/// round, so neither ever fell quiet and they traded heads forever.
#[test]
fn thirty_members_regression_seed_7206402124108436637() {
    converges_with_nothing_waiting(7_206_402_124_108_436_637, 28, 8, 52);
}

/// THREAT_MODEL.md "Attacks tried" 3: an author's clock past year 9999 (the
/// first 8 bytes of its message id) reaches every member clamped, so a reader
/// that prints it as a date cannot fail.
#[test]
fn a_post_from_past_year_9999_is_read_with_a_printable_clock() {
    let mut net = Net::new(3, 3);
    let g = walkers(&mut net);
    let now = net.now();
    let mut id = [0xff; 16];
    id[8..].copy_from_slice(&[1; 8]);
    let node = &mut net.nodes[1];
    node.groups
        .post(&node.id, &g, MessageId(id), "from the far future", now)
        .unwrap();
    net.collect(1);
    net.run(10_000);
    let seen = net.nodes[2].groups.get(&g).unwrap().messages();
    let m = seen
        .iter()
        .find(|m| m.text == "from the far future")
        .unwrap();
    assert_eq!(m.sent_at, Time::LATEST_DATE);
}

/// THREAT_MODEL.md "Attacks tried" 7: a flood of refused changes (each
/// remembered so sync does not ask for it again) stays within MAX_REFUSED.
#[test]
fn a_flood_of_refused_changes_is_remembered_within_its_bound() {
    use super::gate::MAX_REFUSED;
    let mut net = Net::new(3, 5);
    let g = net.create(0, "walkers");
    let admin = net.nodes[0].id.key();
    let carol = Identity::from_secret_bytes(&net.nodes[2].id.to_secret_bytes());
    let mut base =
        GroupDoc::load(&net.nodes[0].groups.get_mut(&g).unwrap().doc.save(), &admin).unwrap();
    let heads = base.heads();
    let layout = base.layout.clone().unwrap();
    let mut doc = base.doc.fork().with_actor(actor_of(&carol.key()));
    for i in 0..MAX_REFUSED + 100 {
        let key = format!(
            "{}/{}",
            hex(carol.key().as_bytes()),
            MessageId([i as u8; 16])
        );
        doc.put(&layout.messages, key, format!("spam {i}")).unwrap();
        doc.commit();
    }
    let changes = doc.get_changes(&heads);
    let last = changes.last().unwrap().hash();
    let vouch = Vouch {
        hash: last,
        author: carol.key(),
        sig: carol.sign(VOUCH_DOMAIN, &last.0),
    };
    let group = net.nodes[0].groups.get_mut(&g).unwrap();
    let out = group.gate_receive(changes, &[vouch]).unwrap();
    assert_eq!(out.accepted, 0);
    assert_eq!(out.refused.len(), MAX_REFUSED + 100, "every one refused");
    assert_eq!(group.gate().refused_len(), MAX_REFUSED);
}

/// THREAT_MODEL.md "Attacks tried" 2: an admin removed while away keeps
/// writing on the state it knew — re-adding itself (a put on `members`
/// concurrent with the delete survives it) and posting.
/// The removal recorded the last of its ops the remover held; everything it
/// wrote past that counts for nothing wherever the removal is known, and the
/// others still agree.
#[test]
fn a_removed_admin_cannot_undo_its_removal_with_concurrent_changes() {
    let mut net = Net::new(3, 6);
    let g = walkers(&mut net);
    net.set_role(0, &g, 2, Role::Admin).unwrap();
    net.run(10_000);
    assert_eq!(net.role(1, &g, 2), Some(Role::Admin));
    // Carol is away; alice removes her.
    net.disconnect(0, 2);
    net.offline.insert(2);
    net.remove(0, &g, 2).unwrap();
    net.run(10_000);
    assert_eq!(net.members(1, &g).len(), 2);
    // Carol, not knowing, writes on top of what she knew.
    net.set_role(2, &g, 2, Role::Member).unwrap();
    net.post(2, &g, "after my removal").unwrap();
    // She comes back and meets both.
    net.offline.remove(&2);
    net.connect(0, 2);
    net.connect(1, 2);
    net.run(20_000);
    let carol = net.nodes[2].id.key();
    for n in [0, 1] {
        assert!(!net.members(n, &g).contains(&carol), "node {n} lists carol");
        assert_eq!(net.role(n, &g, 2), None);
        assert!(!net.texts(n, &g).iter().any(|t| t == "after my removal"));
    }
    assert_eq!(net.heads(0, &g), net.heads(1, &g), "alice and bob agree");
    // Later posts of hers are refused outright.
    net.post(2, &g, "and now?").ok();
    net.run(10_000);
    assert!(!net.texts(1, &g).iter().any(|t| t == "and now?"));
}

// ---- a member with several devices -------------------------------------------

/// Node `device` as a device of node `account`'s.
fn as_device(net: &Net, device: usize) -> NewDevice {
    NewDevice {
        identity: net.nodes[device].id.key(),
        name: format!("device {device}"),
        static_key: net.nodes[device].id.static_key(),
    }
}

/// Admin 0 makes a group with member 1, whose device is node 2.
fn with_a_two_device_member(net: &mut Net) -> GroupId {
    let g = net.create(0, "walkers");
    let mut alice = net.nodes[1].me();
    alice.devices.push(as_device(net, 2));
    let now = net.now();
    let node = &mut net.nodes[0];
    node.groups
        .add(&node.id, &g, alice, Role::Member, now)
        .unwrap();
    net.collect(0);
    net.settle();
    g
}

fn authors(net: &Net, who: usize, g: &GroupId) -> Vec<(IdentityKey, IdentityKey, String)> {
    net.nodes[who]
        .groups
        .get(g)
        .map(|g| {
            g.messages()
                .into_iter()
                .map(|m| (m.author, m.device, m.text))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_member_with_two_devices_is_listed_once_and_both_read_and_post() {
    let mut net = Net::new(3, 21);
    let g = with_a_two_device_member(&mut net);
    let (bob, alice, phone) = (
        net.nodes[0].id.key(),
        net.nodes[1].id.key(),
        net.nodes[2].id.key(),
    );
    net.post(1, &g, "from the laptop").unwrap();
    net.post(2, &g, "from the phone").unwrap();
    net.post(0, &g, "from bob").unwrap();
    net.settle();
    for who in 0..3 {
        let members = net.nodes[who].groups.get(&g).unwrap().members();
        assert_eq!(members.len(), 2, "node {who}: bob and alice, once");
        let a = members.iter().find(|m| m.identity == alice).unwrap();
        assert_eq!(
            a.devices.iter().map(|d| d.identity).collect::<Vec<_>>(),
            vec![phone]
        );
        let got = authors(&net, who, &g);
        assert_eq!(got.len(), 3, "node {who}");
        assert!(got.contains(&(alice, alice, "from the laptop".into())));
        assert!(got.contains(&(alice, phone, "from the phone".into())));
        assert!(got.contains(&(bob, bob, "from bob".into())));
    }
}

#[test]
fn a_device_listed_later_reads_the_current_epoch() {
    let mut net = Net::new(4, 22);
    let g = net.create(0, "walkers");
    net.add(0, &g, 1, Role::Member).unwrap();
    net.add(0, &g, 3, Role::Member).unwrap();
    net.settle();
    // A removal: texts are sealed under an epoch key from now on.
    net.remove(0, &g, 3).unwrap();
    net.settle();
    net.post(0, &g, "sealed").unwrap();
    net.settle();
    // Alice (a plain member) lists her new phone herself.
    let phone = as_device(&net, 2);
    let now = net.now();
    let node = &mut net.nodes[1];
    node.groups.add_device(&node.id, &g, &phone, now).unwrap();
    net.collect(1);
    net.settle();
    assert_eq!(net.texts(2, &g), vec!["sealed"]);
    net.post(2, &g, "the phone too").unwrap();
    net.settle();
    assert_eq!(net.texts(0, &g), vec!["sealed", "the phone too"]);
    assert_eq!(net.members(0, &g).len(), 2);
}

#[test]
fn a_revoked_device_gets_nothing_after_and_an_admin_starts_the_epoch() {
    let mut net = Net::new(3, 23);
    let g = with_a_two_device_member(&mut net);
    let phone = net.nodes[2].id.key();
    net.post(0, &g, "before").unwrap();
    net.settle();
    assert_eq!(net.texts(2, &g), vec!["before"]);
    let epoch = net.nodes[0].groups.get(&g).unwrap().doc.epoch();
    // Alice, not an admin, revokes the phone; bob, an admin, starts the
    // epoch it asks for. The phone stays connected to everyone.
    let now = net.now();
    let node = &mut net.nodes[1];
    node.groups
        .revoke_device(&node.id, &g, &phone, now)
        .unwrap();
    net.collect(1);
    net.settle();
    for who in [0, 1] {
        let doc = &net.nodes[who].groups.get(&g).unwrap().doc;
        assert_eq!(doc.epoch(), epoch + 1, "node {who}");
        assert_eq!(doc.rotation_owed(), None);
        assert!(matches!(doc.entry(&phone), Some(Entry::Revoked(_))));
        assert!(!doc.recipients().iter().any(|(k, _)| *k == phone));
        assert!(doc.sealed_keys_for(&phone).is_empty(), "no key for it");
    }
    net.post(0, &g, "after").unwrap();
    net.post(1, &g, "laptop after").unwrap();
    net.settle();
    assert_eq!(net.texts(2, &g), vec!["before"]);
    assert_eq!(net.texts(1, &g), vec!["before", "after", "laptop after"]);
    // It knows it is out, and cannot post.
    assert!(matches!(
        net.nodes[2].groups.get(&g).unwrap().doc.entry(&phone),
        Some(Entry::Revoked(_))
    ));
    assert_eq!(net.post(2, &g, "still here?"), Err(GroupError::NotMember));
    // Listed again? Never.
    let again = as_device(&net, 2);
    let now = net.now();
    let node = &mut net.nodes[1];
    assert_eq!(
        node.groups.add_device(&node.id, &g, &again, now),
        Err(GroupError::Revoked)
    );
}

#[test]
fn device_entries_only_the_account_may_write_and_a_revocation_wins() {
    let mut net = Net::new(4, 24);
    let g = with_a_two_device_member(&mut net);
    net.add(0, &g, 3, Role::Member).unwrap();
    net.settle();
    let admin = net.nodes[0].id.key();
    let copy = |n: &Net, i: usize| Identity::from_secret_bytes(&n.nodes[i].id.to_secret_bytes());
    let (alice, phone, carol) = (copy(&net, 1), copy(&net, 2), copy(&net, 3));
    let mut base =
        GroupDoc::load(&net.nodes[0].groups.get_mut(&g).unwrap().doc.save(), &admin).unwrap();
    let hex_of = |k: &IdentityKey| hex(k.as_bytes());
    let admin_mark = || automerge::transaction::CommitOptions::default().with_message(ADMIN_MARK);
    let cases: Vec<((automerge::Change, Vouch), Refusal)> = vec![
        // Alice claims carol (a member) as her device.
        (
            forged(&mut base, &alice.key(), &alice, |d, l| {
                let v = Entry::Device(*alice.key().as_bytes()).encode();
                d.put(&l.members, hex_of(&carol.key()), v).unwrap();
                d.commit_with(admin_mark());
            }),
            Refusal::Forbidden("that device entry"),
        ),
        // Alice lists a device under carol's account.
        (
            forged(&mut base, &alice.key(), &alice, |d, l| {
                let v = Entry::Device(*carol.key().as_bytes()).encode();
                d.put(&l.members, hex_of(&identity_key(9)), v).unwrap();
                d.commit_with(admin_mark());
            }),
            Refusal::AdminOnly("membership and settings"),
        ),
        // Carol revokes alice's phone.
        (
            forged(&mut base, &carol.key(), &carol, |d, l| {
                let v = Entry::Revoked(*alice.key().as_bytes()).encode();
                d.put(&l.members, hex_of(&phone.key()), v).unwrap();
                d.commit_with(admin_mark());
            }),
            Refusal::AdminOnly("membership and settings"),
        ),
        // Carol takes alice's phone as her own revoked device.
        (
            forged(&mut base, &carol.key(), &carol, |d, l| {
                let v = Entry::Revoked(*carol.key().as_bytes()).encode();
                d.put(&l.members, hex_of(&phone.key()), v).unwrap();
                d.commit_with(admin_mark());
            }),
            Refusal::Forbidden("that device entry"),
        ),
        // The phone (a device, not the account) lists another device.
        (
            forged(&mut base, &phone.key(), &phone, |d, l| {
                let v = Entry::Device(*alice.key().as_bytes()).encode();
                d.put(&l.members, hex_of(&identity_key(8)), v).unwrap();
                d.commit_with(admin_mark());
            }),
            Refusal::AdminOnly("membership and settings"),
        ),
        // The phone makes itself a member of its own.
        (
            forged(&mut base, &phone.key(), &phone, |d, l| {
                d.put(&l.members, hex_of(&phone.key()), "member").unwrap();
                d.commit_with(admin_mark());
            }),
            Refusal::AdminOnly("membership and settings"),
        ),
    ];
    for ((change, vouch), why) in cases {
        let group = net.nodes[0].groups.get_mut(&g).unwrap();
        let heads = group.doc.heads();
        let out = group.gate_receive(vec![change], &[vouch]).unwrap();
        assert_eq!(out.accepted, 0, "{why:?}");
        assert_eq!(out.refused.first().map(|r| r.1.clone()), Some(why));
        assert_eq!(group.doc.heads(), heads, "nothing was applied");
    }
}

#[test]
fn a_revocation_wins_over_a_concurrent_re_add_in_either_order() {
    for first in [true, false] {
        let mut net = Net::new(3, 25);
        // Alice is an admin here: her phone speaks with an admin's
        // standing, so the gate alone does not stop it re-adding itself.
        let g = with_a_two_device_member(&mut net);
        net.set_role(0, &g, 1, Role::Admin).unwrap();
        net.settle();
        let phone = Identity::from_secret_bytes(&net.nodes[2].id.to_secret_bytes());
        let alice = net.nodes[1].id.key();
        let mut base = GroupDoc::load(
            &net.nodes[0].groups.get_mut(&g).unwrap().doc.save(),
            &phone.key(),
        )
        .unwrap();
        let re_add = forged(&mut base, &phone.key(), &phone, |d, l| {
            // Written afresh (putting the same value again is no change).
            let k = hex(phone.key().as_bytes());
            d.delete(&l.members, &k).unwrap();
            let v = Entry::Device(*alice.as_bytes()).encode();
            d.put(&l.members, &k, v).unwrap();
            d.commit_with(
                automerge::transaction::CommitOptions::default().with_message(ADMIN_MARK),
            );
        });
        // Alice revokes it, not knowing of the re-add.
        let now = net.now();
        let node = &mut net.nodes[1];
        let key = phone.key();
        node.groups.revoke_device(&node.id, &g, &key, now).unwrap();
        let revocation = {
            let doc = &mut net.nodes[1].groups.get_mut(&g).unwrap().doc;
            doc.doc.get_last_local_change().unwrap().clone()
        };
        let revocation_vouch = Vouch {
            hash: revocation.hash(),
            author: net.nodes[1].id.key(),
            sig: net.nodes[1].id.sign(VOUCH_DOMAIN, &revocation.hash().0),
        };
        let group = net.nodes[0].groups.get_mut(&g).unwrap();
        let batches = if first {
            [(re_add.0.clone(), re_add.1), (revocation, revocation_vouch)]
        } else {
            [(revocation, revocation_vouch), (re_add.0.clone(), re_add.1)]
        };
        for (c, v) in batches {
            let out = group.gate_receive(vec![c], &[v]).unwrap();
            assert_eq!(out.accepted, 1, "concurrent: both pass the gate");
        }
        // Both values stand side by side; the revocation is the one read.
        let members = group.doc.layout.clone().unwrap().members;
        let values = group
            .doc
            .doc
            .get_all(&members, hex(key.as_bytes()))
            .unwrap();
        assert_eq!(values.len(), 2, "a real conflict");
        assert!(
            matches!(group.doc.entry(&key), Some(Entry::Revoked(_))),
            "re-add first: {first}"
        );
        assert!(!group.doc.is_member(&key));
    }
}

fn identity_key(seed: u8) -> IdentityKey {
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(seed));
    Identity::generate(&mut rng).key()
}
