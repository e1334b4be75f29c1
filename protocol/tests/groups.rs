//! Groups through whole engines: sessions, the store, restarts, the mesh.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use cairn_protocol::{Event, GroupId};
use harness::Net;

fn texts(net: &Net, n: usize, g: &GroupId) -> Vec<String> {
    net.nodes[n]
        .engine
        .group(g)
        .map(|g| g.messages().into_iter().map(|m| m.text).collect())
        .unwrap_or_default()
}

fn send(net: &mut Net, n: usize, g: &GroupId, text: &str) {
    net.advance(std::time::Duration::from_millis(10));
    let now = net.now;
    net.nodes[n].engine.group_send(now, g, text).unwrap();
    net.nodes[n].engine.flush(now).unwrap();
    net.pump();
}

fn trio() -> (Net, GroupId) {
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 1);
    net.befriend(0, 2);
    net.befriend(1, 2);
    let now = net.now;
    let alice = &mut net.nodes[0].engine;
    let g = alice.group_create(now, "walkers").unwrap();
    let (bob, carol) = (net.key(1), net.key(2));
    let alice = &mut net.nodes[0].engine;
    alice.group_add(now, &g, &bob).unwrap();
    alice.group_add(now, &g, &carol).unwrap();
    alice.flush(now).unwrap();
    (net, g)
}

#[test]
fn members_join_on_first_contact_and_chat() {
    let (mut net, g) = trio();
    net.connect(0, 1);
    net.connect(0, 2);
    assert_eq!(net.nodes[1].engine.group(&g).unwrap().name(), "walkers");
    send(&mut net, 1, &g, "hello from bob");
    assert_eq!(texts(&net, 2, &g), vec!["hello from bob"]);
    assert!(
        net.nodes[2]
            .events
            .iter()
            .any(|e| matches!(e, Event::GroupChanged { group } if *group == g))
    );
}

#[test]
fn groups_survive_a_restart_and_sync_again() {
    let (mut net, g) = trio();
    net.connect(0, 1);
    send(&mut net, 0, &g, "one");
    send(&mut net, 1, &g, "two");
    net.restart(1);
    assert_eq!(texts(&net, 1, &g), vec!["one", "two"]);
    send(&mut net, 0, &g, "three");
    net.connect(0, 1);
    assert_eq!(texts(&net, 1, &g), vec!["one", "two", "three"]);
    // Many more, so the log is compacted into a snapshot on the way.
    for i in 0..150 {
        send(&mut net, 1, &g, &format!("m{i}"));
    }
    net.restart(0);
    assert_eq!(texts(&net, 0, &g).len(), 153);
    net.restart(1);
    assert_eq!(texts(&net, 1, &g).len(), 153);
}

#[test]
fn a_removed_member_gets_nothing_after_its_removal() {
    let (mut net, g) = trio();
    net.connect(0, 1);
    net.connect(0, 2);
    net.connect(1, 2);
    send(&mut net, 1, &g, "before");
    assert_eq!(texts(&net, 2, &g), vec!["before"]);
    let now = net.now;
    let carol = net.key(2);
    net.nodes[0].engine.group_remove(now, &g, &carol).unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    net.pump();
    send(&mut net, 0, &g, "after, from alice");
    send(&mut net, 1, &g, "after, from bob");
    assert_eq!(texts(&net, 1, &g).len(), 3);
    assert_eq!(texts(&net, 2, &g), vec!["before"]);
    // Linked all along, she learns she was removed (from alice, who holds
    // her signed removal), without waiting for a new session.
    assert_eq!(member_names(&net, 2, &g), vec!["alice", "bob"]);
    // Reconnecting does not help her.
    net.restart(2);
    net.connect(0, 2);
    net.connect(1, 2);
    assert_eq!(texts(&net, 2, &g), vec!["before"]);
    assert_eq!(net.nodes[1].engine.group(&g).unwrap().members().len(), 2);
}

fn member_names(net: &Net, n: usize, g: &GroupId) -> Vec<String> {
    let mut names: Vec<String> = net.nodes[n]
        .engine
        .group(g)
        .unwrap()
        .members()
        .into_iter()
        .map(|m| m.name)
        .collect();
    names.sort();
    names
}

#[test]
fn a_removed_member_learns_it_was_removed_and_nothing_written_after() {
    let (mut net, g) = trio();
    net.connect(0, 1);
    let (to_alice, _) = net.connect(0, 2);
    let (to_bob, _) = net.connect(1, 2);
    send(&mut net, 1, &g, "before");
    assert_eq!(texts(&net, 2, &g), vec!["before"]);
    // Carol is away when alice removes her, and writes meanwhile (she
    // cannot know yet).
    net.disconnect(to_alice);
    net.disconnect(to_bob);
    let now = net.now;
    let carol = net.key(2);
    net.nodes[0].engine.group_remove(now, &g, &carol).unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    net.pump();
    send(&mut net, 0, &g, "after, from alice");
    send(&mut net, 2, &g, "unaware, from carol");
    assert_eq!(member_names(&net, 2, &g), vec!["alice", "bob", "carol"]);
    // Back: she meets bob first (who did not remove her), then alice.
    net.connect(1, 2);
    net.connect(0, 2);
    let group = net.nodes[2].engine.group(&g).unwrap();
    assert_eq!(group.doc.role_of(&carol), None, "carol never learned it");
    assert!(group.doc.removed_at(&carol).is_some());
    assert_eq!(member_names(&net, 2, &g), vec!["alice", "bob"]);
    // She holds the removal and what led to it, nothing written after; her
    // own post falls past the cut-off there as everywhere.
    assert_eq!(texts(&net, 2, &g), vec!["before"]);
    // What she wrote unaware counts nowhere else; she cannot write more.
    for n in [0, 1] {
        assert_eq!(texts(&net, n, &g), vec!["before", "after, from alice"]);
    }
    net.advance(std::time::Duration::from_millis(10));
    let now = net.now;
    assert!(net.nodes[2].engine.group_send(now, &g, "more").is_err());
    // It survives her restart.
    net.restart(2);
    let group = net.nodes[2].engine.group(&g).unwrap();
    assert_eq!(group.doc.role_of(&carol), None);
    // And alice's restart keeps the notice for the next one she removes.
    net.restart(0);
    assert_eq!(texts(&net, 0, &g), vec!["before", "after, from alice"]);
}

#[test]
fn messages_reach_members_with_no_session_through_the_mesh() {
    let mut net = Net::new(&["alice", "bob", "carol", "dave"]);
    net.befriend(0, 1);
    net.befriend(0, 2);
    let now = net.now;
    let (bob, carol) = (net.key(1), net.key(2));
    let alice = &mut net.nodes[0].engine;
    let g = alice.group_create(now, "walkers").unwrap();
    alice.group_add(now, &g, &bob).unwrap();
    alice.group_add(now, &g, &carol).unwrap();
    alice.flush(now).unwrap();
    let (link, _) = net.connect(0, 2);
    assert!(net.nodes[2].engine.group(&g).is_some(), "carol joined");
    net.disconnect(link);
    // Alice and carol never meet again; dave, a stranger to both, walks
    // between them and carries the sealed push.
    net.connect(0, 3);
    send(&mut net, 0, &g, "through the mesh");
    net.connect(3, 2);
    net.advance(std::time::Duration::from_secs(60));
    assert_eq!(texts(&net, 2, &g), vec!["through the mesh"]);
    assert!(
        net.nodes[3].engine.group(&g).is_none(),
        "dave learnt nothing"
    );
}

/// THREAT_MODEL.md "Attacks tried" 1: a stranger who wrote once is a contact
/// request; it cannot make us open a group (and so cannot reach automerge's
/// decoders with a document of its choosing).
#[test]
fn a_stranger_who_wrote_once_cannot_open_a_group() {
    let mut net = Net::new(&["mallory", "bob"]);
    net.add(0, 1); // only mallory knows bob
    net.connect(0, 1);
    net.send(0, 1, "hi, it's mallory");
    let now = net.now;
    let bob = net.key(1);
    let mallory = &mut net.nodes[0].engine;
    let g = mallory.group_create(now, "free stuff").unwrap();
    mallory.group_add(now, &g, &bob).unwrap();
    mallory.flush(now).unwrap();
    net.pump();
    net.advance(std::time::Duration::from_secs(60));
    assert!(net.nodes[1].engine.group(&g).is_none());
    assert_eq!(net.nodes[1].engine.groups().count(), 0);
}
