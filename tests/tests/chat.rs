//! What people do in a chat besides typing, between real `cairn` processes
//! in network namespaces: reply, react, edit and delete — over the LAN, and
//! through a stranger on the mesh while the recipient is away. A deletion
//! leaves no trace of the text in either store, read with the passphrase.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_tests::{Lab, PASSPHRASE, Peer, stderr, two_friends, wait_until};

const PATIENCE: Duration = Duration::from_secs(60);

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `p`'s store (stopped) holds `needle` anywhere: in the file as it
/// is, or in any message record of any conversation once opened with the
/// passphrase — the edits, reactions and replies included.
fn store_holds(p: &Peer, needle: &str) -> bool {
    let path = p.store_path();
    if contains(&std::fs::read(&path).unwrap(), needle.as_bytes()) {
        return true;
    }
    let opened = cairn_store::RedbStore::open(&path, PASSPHRASE.as_bytes()).unwrap();
    use cairn_protocol::Store;
    opened.store.contacts().unwrap().iter().any(|c| {
        opened
            .store
            .history(&c.identity, None)
            .unwrap()
            .iter()
            .any(|m| {
                m.text.contains(needle) || m.changes.earlier.iter().any(|(_, t)| t.contains(needle))
            })
    })
}

#[test]
fn reply_react_edit_and_delete_over_the_lan_and_deletion_leaves_no_trace() {
    let lab = Lab::new(2);
    let (mut alice, mut bob) = two_friends(&lab);

    let id = alice.send("bob", "meet at the old mill at nine");
    assert!(
        wait_until(PATIENCE, || bob.message("alice", &id).is_some()),
        "bob never got the message"
    );
    let short = &id[..8];

    // Bob replies (by a short id) and reacts.
    let reply = bob
        .ok(&["reply", "alice", short, "which mill?"])
        .trim()
        .to_owned();
    bob.ok(&["react", "alice", short, "👍"]);
    assert!(
        wait_until(PATIENCE, || alice
            .message("bob", &reply)
            .is_some_and(
                |m| m["reply_to"] == id.as_str() && m["quote"] == "meet at the old mill at nine"
            )),
        "alice does not see bob's reply quoting her message: {:?}",
        alice.messages("bob")
    );
    assert!(
        wait_until(PATIENCE, || alice.message("bob", &id).is_some_and(
            |m| cairn_tests::reactions(&m) == [("in".to_owned(), "👍".to_owned())]
        )),
        "alice does not see bob's reaction"
    );
    // He changes his mind: one reaction per person.
    bob.ok(&["react", "alice", short, "❤️"]);
    assert!(
        wait_until(PATIENCE, || alice.message("bob", &id).is_some_and(
            |m| cairn_tests::reactions(&m) == [("in".to_owned(), "❤️".to_owned())]
        )),
        "bob's new reaction did not replace the old one"
    );

    // What the CLI refuses, clearly: editing someone else's message, a
    // reaction that is not an emoji, an id that names nothing.
    for (args, says) in [
        (
            vec!["edit", "alice", short, "I said ten"],
            "only its author",
        ),
        (vec!["delete", "alice", short], "only its author"),
        (vec!["react", "alice", short, "lol"], "one emoji"),
        (vec!["react", "alice", "ffffffffff", "👍"], "no message"),
        (vec!["reply", "alice", "zz", "x"], "hex digits"),
    ] {
        let out = bob.cli(&args);
        assert!(!out.status.success(), "`{}` succeeded", args.join(" "));
        assert!(
            stderr(&out).contains(says),
            "`{}`: unclear error: {}",
            args.join(" "),
            stderr(&out)
        );
    }

    // Alice edits; bob sees the new text, marked edited, the old one kept.
    alice.ok(&["edit", "bob", short, "meet at the new mill at ten"]);
    assert!(
        wait_until(PATIENCE, || bob.message("alice", &id).is_some_and(
            |m| m["text"] == "meet at the new mill at ten"
                && m["edited"] == true
                && m["earlier"][0] == "meet at the old mill at nine"
        )),
        "bob does not see the edit: {:?}",
        bob.message("alice", &id)
    );
    let shown = bob.ok(&["messages", "alice", "--peek"]);
    assert!(
        shown.contains("(edited)") && shown.contains("❤️"),
        "{shown}"
    );
    assert!(
        shown.contains("↪ reply to “meet at the new mill at ten”"),
        "{shown}"
    );

    // Alice deletes it for everyone.
    alice.ok(&["delete", "bob", short]);
    for (p, with) in [(&alice, "bob"), (&bob, "alice")] {
        assert!(
            wait_until(PATIENCE, || p
                .message(with, &id)
                .is_some_and(|m| m["deleted"] == true && m["text"] == "")),
            "{} still shows the deleted message",
            p.name
        );
    }
    // Nothing more can be done to it.
    let out = bob.cli(&["react", "alice", short, "😮"]);
    assert!(!out.status.success() && stderr(&out).contains("deleted"));
    // Bob's reply stays (his own words), now quoting nothing.
    let m = bob.message("alice", &reply).unwrap();
    assert_eq!(m["text"], "which mill?");
    assert!(m.get("quote").is_none());

    alice.stop();
    bob.stop();
    for p in [&alice, &bob] {
        for needle in ["old mill", "new mill", "at nine", "at ten"] {
            assert!(
                !store_holds(p, needle),
                "{}'s store still holds {needle:?}",
                p.name
            );
        }
        assert!(
            store_holds(p, "which mill?"),
            "the check can see what is there"
        );
    }
}

#[test]
fn operations_go_through_a_stranger_while_the_recipient_is_away() {
    // alice: bridge 0 only; bob: both; carol: bridge 1 only. alice and
    // carol know each other; bob is a stranger to both.
    let lab = Lab::with_bridges(&[vec![0], vec![0, 1], vec![1]]);
    let mut alice = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(1)));
    let mut carol = Peer::new("carol", Some(lab.host(2)));
    alice.add(&carol);
    carol.add(&alice);
    for p in [&mut alice, &mut bob, &mut carol] {
        p.start();
    }
    let id = alice.send("carol", "the key is under the blue pot");
    assert!(
        wait_until(PATIENCE, || carol.message("alice", &id).is_some()),
        "carol never got the message through bob"
    );

    // Carol goes away; alice edits the first message and deletes a second.
    let second = alice.send("carol", "and the code is 4711");
    assert!(wait_until(PATIENCE, || carol
        .message("alice", &second)
        .is_some()));
    carol.stop();
    assert!(
        wait_until(PATIENCE, || bob.links() == 1),
        "bob still sees carol"
    );
    alice.ok(&["edit", "carol", &id[..8], "the key is under the red pot"]);
    alice.ok(&["delete", "carol", &second[..8]]);
    assert!(
        wait_until(PATIENCE, || bob.json(&["status"])["mesh"]["carried"]
            .as_u64()
            .unwrap_or(0)
            >= 2),
        "bob did not take the operations"
    );
    // alice leaves too: only bob can deliver them.
    alice.stop();
    carol.start();
    assert!(
        wait_until(PATIENCE, || carol
            .message("alice", &id)
            .is_some_and(|m| m["text"] == "the key is under the red pot")),
        "the edit did not come through bob"
    );
    assert!(
        wait_until(PATIENCE, || carol
            .message("alice", &second)
            .is_some_and(|m| m["deleted"] == true)),
        "the deletion did not come through bob"
    );
    // Bob carried them without learning anything: no contacts, no messages.
    assert!(bob.json(&["contacts"]).as_array().unwrap().is_empty());
    carol.stop();
    assert!(
        !store_holds(&carol, "4711"),
        "carol's store keeps the deleted text"
    );
    // An edit keeps the earlier text (shown as edited), unlike a deletion.
    assert!(store_holds(&carol, "blue pot"));
}

#[test]
fn disappearing_messages_are_agreed_shown_and_leave_no_trace_in_either_store() {
    let lab = Lab::new(2);
    let (mut alice, mut bob) = two_friends(&lab);

    // Bad timers are refused clearly.
    for (bad, says) in [("soon", "not a time"), ("2s", "between 5 seconds")] {
        let out = alice.cli(&["disappear", "bob", bad]);
        assert!(
            !out.status.success() && stderr(&out).contains(says),
            "{}",
            stderr(&out)
        );
    }
    alice.ok(&["disappear", "bob", "8s"]);
    // Both sides show the timer: on the contact and as a line in the chat.
    let timer_of = |p: &Peer, with: &str| {
        p.json(&["contacts"])
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["alias"] == with)
            .and_then(|c| c["disappear_after"].as_u64())
    };
    assert!(
        wait_until(PATIENCE, || timer_of(&bob, "alice") == Some(8)),
        "bob did not take alice's timer"
    );
    assert_eq!(timer_of(&alice, "bob"), Some(8));
    assert!(
        bob.ok(&["messages", "alice", "--peek"])
            .contains("messages disappear 8s after they arrive")
    );

    let id = alice.send("bob", "the meeting point is the bakery");
    bob.send("alice", "see you at the bakery");
    assert!(
        wait_until(PATIENCE, || bob.message("alice", &id).is_some()),
        "bob never got it"
    );
    // Within a few seconds of their timer, both sides hold nothing of them.
    for (p, with) in [(&alice, "bob"), (&bob, "alice")] {
        assert!(
            wait_until(PATIENCE, || p
                .messages(with)
                .iter()
                .all(|m| !m["text"].as_str().unwrap_or("").contains("bakery"))),
            "{} still shows the messages",
            p.name
        );
    }
    alice.stop();
    bob.stop();
    for p in [&alice, &bob] {
        assert!(
            !store_holds(p, "bakery"),
            "{}'s store still holds the text",
            p.name
        );
    }
}
