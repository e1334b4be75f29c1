//! Group chat between real `cairn` processes in network namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use automerge::ReadDoc;
use cairn_tests::{Lab, Peer, stderr, wait_until};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(90);

fn texts(p: &Peer, group: &str) -> Vec<String> {
    p.json(&["group", "messages", group])
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn has_group(p: &Peer, name: &str) -> bool {
    p.json(&["group", "list"])
        .as_array()
        .is_some_and(|a| a.iter().any(|g| g["name"] == name))
}

fn members(p: &Peer, group: &str) -> Vec<String> {
    let v: Value = p.json(&["group", "members", group]);
    let mut names: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Three people who all know each other, on one network.
fn trio(lab: &Lab) -> (Peer, Peer, Peer) {
    let alice = Peer::new("alice", Some(lab.host(0)));
    let bob = Peer::new("bob", Some(lab.host(1)));
    let carol = Peer::new("carol", Some(lab.host(2)));
    for (a, b) in [(&alice, &bob), (&alice, &carol), (&bob, &carol)] {
        a.add(b);
        b.add(a);
    }
    (alice, bob, carol)
}

/// alice (who created "walkers") adds bob and carol, everyone starts, and
/// the group reaches both.
fn start_walkers(alice: &mut Peer, bob: &mut Peer, carol: &mut Peer) {
    alice.ok(&["group", "add", "walkers", "bob"]);
    alice.ok(&["group", "add", "walkers", "carol"]);
    for p in [&mut *alice, &mut *bob, &mut *carol] {
        p.start();
    }
    assert!(
        wait_until(PATIENCE, || has_group(bob, "walkers")
            && has_group(carol, "walkers")),
        "the group never reached bob and carol"
    );
}

#[test]
fn three_people_chat_and_a_removed_member_gets_nothing_afterwards() {
    let lab = Lab::new(3);
    let (mut alice, mut bob, mut carol) = trio(&lab);
    let id = alice.ok(&["group", "create", "walkers"]).trim().to_owned();
    assert_eq!(id.len(), 32, "a group id: {id}");
    start_walkers(&mut alice, &mut bob, &mut carol);
    alice.ok(&["group", "send", "walkers", "hello from alice"]);
    bob.ok(&["group", "send", "walkers", "hello from bob"]);
    carol.ok(&["group", "send", "walkers", "hello from carol"]);
    for p in [&alice, &bob, &carol] {
        assert!(
            wait_until(PATIENCE, || texts(p, "walkers").len() == 3),
            "{} has {:?}",
            p.name,
            texts(p, "walkers")
        );
    }
    assert_eq!(members(&bob, "walkers"), vec!["alice", "bob", "carol"]);

    // carol is removed. She learns it (alice shows her the removal and what
    // led to it, nothing after), and what follows never reaches her.
    alice.ok(&["group", "remove", "walkers", "carol"]);
    assert!(
        wait_until(PATIENCE, || members(&bob, "walkers")
            == vec!["alice", "bob"]),
        "bob never saw the removal"
    );
    assert!(
        wait_until(PATIENCE, || members(&carol, "walkers")
            == vec!["alice", "bob"]),
        "carol never learned she was removed: she lists {:?}",
        members(&carol, "walkers")
    );
    let list = carol.ok(&["group", "list"]);
    assert!(list.contains("you: removed"), "{list}");
    let refused = carol.cli(&["group", "send", "walkers", "let me back"]);
    assert!(!refused.status.success(), "a removed member could post");
    assert!(
        stderr(&refused).contains("not a member"),
        "{}",
        stderr(&refused)
    );
    bob.ok(&["group", "send", "walkers", "carol cannot read this"]);
    alice.ok(&["group", "send", "walkers", "nor this"]);
    for p in [&alice, &bob] {
        assert!(
            wait_until(PATIENCE, || texts(p, "walkers").len() == 5),
            "{} has {:?}",
            p.name,
            texts(p, "walkers")
        );
    }
    // Give carol every chance: she restarts (a new session with each, whose
    // first act is a group sync), then writes to both. Their receipts come
    // back in the same sessions after their answers to her sync, so once
    // both read "delivered" she has heard all either would send her.
    carol.stop();
    carol.start();
    for who in ["alice", "bob"] {
        let text = format!("carol to {who} after her restart");
        carol.send(who, &text);
        assert!(
            wait_until(PATIENCE, || carol.state_of(who, &text).as_deref()
                == Some("delivered")),
            "{who} never got carol's message"
        );
    }
    let seen = texts(&carol, "walkers");
    assert_eq!(seen.len(), 3, "carol saw {seen:?}");
    assert!(
        !seen
            .iter()
            .any(|t| t.contains("cannot read") || t == "nor this")
    );
    // The others go on.
    bob.ok(&["group", "send", "walkers", "still here"]);
    assert!(
        wait_until(PATIENCE, || texts(&alice, "walkers").len() == 6),
        "alice has {:?}",
        texts(&alice, "walkers")
    );

    // Roles: bob cannot make himself admin; alice makes him one, and the
    // last admin cannot step down.
    let refused = bob.cli(&["group", "role", "walkers", "bob", "admin"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("only admins"),
        "{}",
        stderr(&refused)
    );
    alice.ok(&["group", "role", "walkers", "bob", "admin"]);
    let bob_is_admin = || {
        bob.json(&["group", "members", "walkers"])
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "bob" && m["role"] == "admin")
    };
    assert!(wait_until(PATIENCE, bob_is_admin), "bob never saw it");
    bob.ok(&["group", "role", "walkers", "alice", "member"]);
    let last = bob.cli(&["group", "role", "walkers", "bob", "member"]);
    assert!(
        stderr(&last).contains("needs an admin"),
        "{}",
        stderr(&last)
    );

    // Export: the plain automerge document, readable without Cairn.
    let file = alice.profile().join("walkers.automerge");
    alice.ok(&["group", "export", "walkers", file.to_str().unwrap()]);
    let doc = automerge::AutoCommit::load(&std::fs::read(&file).unwrap()).unwrap();
    let (_, messages) = doc
        .get(automerge::ROOT, "messages")
        .unwrap()
        .expect("a messages map");
    assert_eq!(doc.length(&messages), 6);
    let (name, _) = doc.get(automerge::ROOT, "name").unwrap().unwrap();
    assert_eq!(name.as_str(), Some("walkers"));
}

#[test]
fn a_member_away_for_500_messages_catches_up_from_someone_other_than_the_author() {
    let lab = Lab::new(3);
    let (mut alice, mut bob, mut carol) = trio(&lab);
    alice.ok(&["group", "create", "walkers"]);
    start_walkers(&mut alice, &mut bob, &mut carol);
    carol.stop();
    for i in 0..500 {
        alice.ok(&["group", "send", "walkers", &format!("message {i:03}")]);
    }
    assert!(
        wait_until(PATIENCE, || texts(&bob, "walkers").len() == 500),
        "bob has {}",
        texts(&bob, "walkers").len()
    );
    // The author leaves before carol returns: only bob can catch her up.
    alice.stop();
    carol.start();
    assert!(
        wait_until(PATIENCE, || texts(&carol, "walkers").len() == 500),
        "carol caught up only {} of 500",
        texts(&carol, "walkers").len()
    );
    let got = texts(&carol, "walkers");
    assert_eq!(got.first().map(String::as_str), Some("message 000"));
    assert_eq!(got.last().map(String::as_str), Some("message 499"));
}
