//! Replies, reactions, edits, deletion and disappearing posts in groups,
//! through the real sync cores (docs/GROUPS.md, "Replies, reactions, edits,
//! deletion, disappearing") — and what a hostile member tries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::groups::GroupOp;
use super::posts::{Body, Post};
use super::tests::{Net, walkers};
use super::*;

impl Net {
    pub(super) fn op(
        &mut self,
        who: usize,
        g: &GroupId,
        op: GroupOp,
    ) -> Result<MessageId, GroupError> {
        let now = self.now();
        let fresh = message_id(now, [who as u8; 8]);
        let node = &mut self.nodes[who];
        let r = node.groups.operate(&node.id, g, op, fresh, now);
        self.collect(who);
        r
    }

    fn say(&mut self, who: usize, g: &GroupId, text: &str) -> MessageId {
        self.post(who, g, text).unwrap();
        self.messages(who, g).last().unwrap().id
    }

    fn raw(&mut self, who: usize, g: &GroupId, msg: MessageId, post: Post) {
        let now = self.now();
        let node = &mut self.nodes[who];
        node.groups.post_raw(&node.id, g, msg, &post, now).unwrap();
        self.collect(who);
    }

    pub(super) fn messages(&self, who: usize, g: &GroupId) -> Vec<GroupMessage> {
        self.nodes[who].groups.get(g).unwrap().messages()
    }

    fn message(&self, who: usize, g: &GroupId, id: MessageId) -> GroupMessage {
        self.messages(who, g)
            .into_iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{who} does not hold {id}"))
    }

    /// Whether anything in `who`'s document history still opens to a text
    /// containing `needle`.
    fn holds(&mut self, who: usize, g: &GroupId, needle: &str) -> bool {
        self.nodes[who]
            .groups
            .get_mut(g)
            .unwrap()
            .readable_history()
            .iter()
            .any(|t| t.contains(needle))
    }

    fn key_of(&self, who: usize) -> IdentityKey {
        self.nodes[who].id.key()
    }
}

#[test]
fn replies_reactions_and_edits_reach_every_member_and_deletion_erases_the_text() {
    let mut net = Net::new(3, 21);
    let g = walkers(&mut net);
    let id = net.say(0, &g, "meet at the old mill at nine");
    net.run(10_000);
    let reply = net
        .op(
            1,
            &g,
            GroupOp::Reply {
                to: id,
                text: "which mill?".into(),
            },
        )
        .unwrap();
    net.op(
        2,
        &g,
        GroupOp::React {
            to: id,
            emoji: "👍".into(),
        },
    )
    .unwrap();
    net.run(10_000);
    // Carol changes her mind: one reaction per member, the newest.
    net.op(
        2,
        &g,
        GroupOp::React {
            to: id,
            emoji: "❤️".into(),
        },
    )
    .unwrap();
    net.op(
        0,
        &g,
        GroupOp::Edit {
            to: id,
            text: "meet at the new mill at ten".into(),
        },
    )
    .unwrap();
    net.run(10_000);
    let carol = net.key_of(2);
    for who in 0..3 {
        let m = net.message(who, &g, id);
        assert_eq!(m.text, "meet at the new mill at ten", "at {who}");
        assert!(m.edited);
        assert_eq!(m.reactions, vec![(carol, "❤️".to_owned())], "at {who}");
        let r = net.message(who, &g, reply);
        assert_eq!(r.reply_to, Some(id));
        assert_eq!(r.quote.as_deref(), Some("meet at the new mill at ten"));
        // Reactions are not messages of their own.
        assert_eq!(net.messages(who, &g).len(), 2, "at {who}");
    }
    // The old text is still in every history (an edit is not a deletion)…
    assert!(net.holds(1, &g, "old mill"));

    // …until its author deletes the post for everyone.
    net.op(0, &g, GroupOp::Delete { to: id }).unwrap();
    net.run(10_000);
    for who in 0..3 {
        let m = net.message(who, &g, id);
        assert!(
            m.deleted && m.text.is_empty() && m.reactions.is_empty(),
            "at {who}"
        );
        let r = net.message(who, &g, reply);
        assert_eq!(r.text, "which mill?", "the reply stays");
        assert_eq!(r.quote, None, "quoting nothing");
        for needle in ["old mill", "new mill", "at nine", "at ten"] {
            assert!(!net.holds(who, &g, needle), "{who} still holds {needle:?}");
        }
        assert!(
            net.holds(who, &g, "which mill?"),
            "the check sees what is there"
        );
    }
    // Nothing more can be done to it.
    assert_eq!(
        net.op(
            1,
            &g,
            GroupOp::React {
                to: id,
                emoji: "😮".into()
            }
        ),
        Err(GroupError::Deleted)
    );
}

#[test]
fn an_admin_deletes_anyones_post_and_a_member_only_its_own() {
    let mut net = Net::new(3, 22);
    let g = walkers(&mut net);
    let bob = net.say(1, &g, "bob's secret plan");
    let carol = net.say(2, &g, "carol's plan");
    net.run(10_000);
    // Bob may neither edit nor delete carol's post.
    assert_eq!(
        net.op(
            1,
            &g,
            GroupOp::Edit {
                to: carol,
                text: "x".into()
            }
        ),
        Err(GroupError::NotAuthor)
    );
    assert_eq!(
        net.op(1, &g, GroupOp::Delete { to: carol }),
        Err(GroupError::NotAuthor)
    );
    // The admin deletes bob's post: gone everywhere, bob's copy included.
    net.op(0, &g, GroupOp::Delete { to: bob }).unwrap();
    net.run(10_000);
    for who in 0..3 {
        assert!(net.message(who, &g, bob).deleted, "at {who}");
        assert!(!net.holds(who, &g, "secret plan"), "{who} still holds it");
        assert!(!net.message(who, &g, carol).deleted);
    }
}

#[test]
fn what_a_hostile_member_writes_is_refused_or_ignored() {
    let mut net = Net::new(3, 23);
    let g = walkers(&mut net);
    let alice = net.say(0, &g, "alice's post");
    net.run(10_000);
    let slot = message_slot(&net.key_of(0), &alice);
    // What the node refuses to write at all.
    for (op, err) in [
        (
            GroupOp::React {
                to: alice,
                emoji: "lol".into(),
            },
            GroupError::NotAReaction,
        ),
        (
            GroupOp::Reply {
                to: MessageId([7; 16]),
                text: "to nothing".into(),
            },
            GroupError::NoSuchMessage,
        ),
        (
            GroupOp::Reply {
                to: alice,
                text: "\u{3}delete:x\n".into(),
            },
            GroupError::BadText,
        ),
        (GroupOp::Timer(3600), GroupError::NotAdmin),
    ] {
        assert_eq!(net.op(2, &g, op), Err(err));
    }
    // A modified node writes what the rules forbid: a member deleting
    // someone else's post, a "reaction" that is a word, operations on posts
    // that do not exist. Every member ignores them.
    let carol = 2;
    net.raw(
        carol,
        &g,
        message_id(net_now(), [1; 8]),
        Post {
            body: Body::Delete {
                target: slot.clone(),
            },
            edited: false,
            text: String::new(),
        },
    );
    let nowhere = message_slot(&net.key_of(1), &MessageId([9; 16]));
    net.raw(
        carol,
        &g,
        message_id(net_now(), [2; 8]),
        Post {
            body: Body::React {
                target: nowhere.clone(),
            },
            edited: false,
            text: "👍".into(),
        },
    );
    net.raw(
        carol,
        &g,
        message_id(net_now(), [3; 8]),
        Post {
            body: Body::Text {
                reply_to: Some(nowhere),
            },
            edited: false,
            text: "a reply to nothing".into(),
        },
    );
    // A flood of reactions to one post: one slot, the last one counts.
    for emoji in ["😀", "😃", "😄", "😁", "😆", "😅", "🤣", "😂"]
        .iter()
        .cycle()
        .take(200)
    {
        net.op(
            carol,
            &g,
            GroupOp::React {
                to: alice,
                emoji: (*emoji).into(),
            },
        )
        .unwrap();
    }
    net.run(100_000);
    for who in 0..3 {
        let m = net.message(who, &g, alice);
        assert!(!m.deleted, "a member deleted someone else's post at {who}");
        assert_eq!(m.text, "alice's post");
        assert_eq!(m.reactions, vec![(net.key_of(carol), "😂".to_owned())]);
        let texts: Vec<String> = net.messages(who, &g).into_iter().map(|m| m.text).collect();
        assert_eq!(
            texts,
            vec!["alice's post", "a reply to nothing"],
            "at {who}"
        );
        let orphan = net.messages(who, &g).pop().unwrap();
        assert_eq!((orphan.reply_to.is_some(), orphan.quote), (true, None));
        // 1 post + 3 hostile + 1 reaction slot, however many reactions.
        assert_eq!(
            net.nodes[who].groups.get(&g).unwrap().doc.message_count(),
            5
        );
    }
}

fn net_now() -> Time {
    Time::from_millis(2_000_000)
}

#[test]
fn an_operation_that_arrives_before_its_post_waits_for_it() {
    let mut net = Net::new(3, 24);
    let g = walkers(&mut net);
    net.connect(1, 2);
    net.run(10_000);
    // Carol goes away; alice posts, bob reacts and replies.
    net.disconnect(0, 2);
    net.disconnect(1, 2);
    net.offline.insert(2);
    let id = net.say(0, &g, "first");
    net.run(10_000);
    net.op(
        1,
        &g,
        GroupOp::React {
            to: id,
            emoji: "👍".into(),
        },
    )
    .unwrap();
    net.run(10_000);
    // Carol is back, reachable by bob only: his reaction (pushed, or in
    // the sync) names a post she does not have yet.
    net.offline.remove(&2);
    net.connect(1, 2);
    net.run(10_000);
    assert_eq!(
        net.message(2, &g, id).reactions,
        vec![(net.key_of(1), "👍".to_owned())]
    );
    assert_eq!(net.message(2, &g, id).text, "first");
}

#[test]
fn disappearing_posts_expire_and_their_keys_are_erased() {
    let mut net = Net::new(3, 25);
    let g = walkers(&mut net);
    let before = net.say(2, &g, "written before the timer");
    net.op(0, &g, GroupOp::Timer(60)).unwrap();
    net.run(10_000);
    let id = net.say(1, &g, "burn after reading");
    net.run(10_000);
    for who in 0..3 {
        assert_eq!(net.nodes[who].groups.get(&g).unwrap().timer(), 60);
        assert_eq!(net.message(who, &g, id).text, "burn after reading");
    }
    let later = Time::from_millis(net.now().as_millis() + 61_000);
    for who in 0..3 {
        net.nodes[who].groups.handle_timeout(later);
        net.collect(who);
        assert!(
            net.messages(who, &g).iter().all(|m| m.id != id),
            "{who} still shows it"
        );
        assert!(!net.holds(who, &g, "burn after"), "{who} still holds it");
        // The timer is for what is written once it is set.
        assert_eq!(
            net.message(who, &g, before).text,
            "written before the timer"
        );
    }
    // Off again: later posts stay.
    net.op(0, &g, GroupOp::Timer(0)).unwrap();
    net.run(10_000);
    let kept = net.say(2, &g, "this one stays");
    net.run(10_000);
    let much_later = Time::from_millis(net.now().as_millis() + 3_600_000);
    net.nodes[1].groups.handle_timeout(much_later);
    assert_eq!(net.message(1, &g, kept).text, "this one stays");
}

#[test]
fn a_deletion_that_overtakes_the_edit_before_it_still_erases_at_once() {
    let mut net = Net::new(3, 26);
    let g = walkers(&mut net);
    let first = net.say(0, &g, "the key is under the blue pot");
    let second = net.say(0, &g, "and the code is 4711");
    net.run(10_000);
    // Carol is away: alice's edit of one post and deletion of the other go
    // to her through the mesh, and the deletion arrives first (it waits for
    // the edit, which it follows).
    net.disconnect(0, 2);
    net.op(
        0,
        &g,
        GroupOp::Edit {
            to: first,
            text: "the key is under the red pot".into(),
        },
    )
    .unwrap();
    net.op(0, &g, GroupOp::Delete { to: second }).unwrap();
    let mut to_carol: Vec<_> = net.queue.iter().filter(|q| q.1 == 2).cloned().collect();
    assert_eq!(to_carol.len(), 2, "one push each");
    net.queue.retain(|q| q.1 != 2);
    to_carol.reverse();
    net.queue.extend(to_carol);
    net.run(10_000);
    // No tick has run: the key went when the deletion applied.
    assert_eq!(
        net.message(2, &g, first).text,
        "the key is under the red pot"
    );
    assert!(net.message(2, &g, second).deleted);
    assert!(!net.holds(2, &g, "4711"), "carol keeps the key");
}

#[test]
fn a_newcomer_to_a_group_of_more_posts_than_one_blob_names_gets_every_key_at_once() {
    // One blob names at most 64 keys in tests (65 535 otherwise): a
    // newcomer handed the whole document takes the rest from keys blobs,
    // not one want (of 512) per tick.
    let mut net = Net::new(2, 26);
    let g = net.create(0, "big");
    for i in 0..200 {
        net.post(0, &g, &format!("post number {i}")).unwrap();
    }
    net.add(0, &g, 1, Role::Member).unwrap();
    net.connect(0, 1);
    net.run(100_000);
    let texts: Vec<String> = net.messages(1, &g).into_iter().map(|m| m.text).collect();
    assert_eq!(texts.len(), 200);
    assert!(
        texts.iter().all(|t| t.starts_with("post number")),
        "sealed posts left: {}",
        texts
            .iter()
            .filter(|t| !t.starts_with("post number"))
            .count()
    );
}
