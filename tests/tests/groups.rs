//! Group chat between real `cairn` processes in network namespaces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use automerge::ReadDoc;
use cairn_node::voice;
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

/// A group's message `id` (by its full id) as `p` shows it.
fn group_message(p: &Peer, group: &str, id: &str) -> Option<Value> {
    p.json(&["group", "messages", group])
        .as_array()?
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
}

/// Whether `p`'s store (stopped) holds `needle` anywhere: in the file as it
/// is, or in any group's history once opened with the passphrase, with the
/// post keys the store still holds (edits and deleted posts included).
fn group_store_holds(p: &Peer, needle: &str) -> bool {
    let path = p.store_path();
    let raw = std::fs::read(&path).unwrap();
    if raw.windows(needle.len()).any(|w| w == needle.as_bytes()) {
        return true;
    }
    let opened = cairn_store::RedbStore::open(&path, cairn_tests::PASSPHRASE.as_bytes()).unwrap();
    use cairn_protocol::Store;
    let settings = opened.store.settings().unwrap();
    opened.store.groups().unwrap().iter().any(|g| {
        cairn_protocol::group::groups::stored_texts(g, &settings)
            .unwrap()
            .iter()
            .any(|t| t.contains(needle))
    })
}

#[test]
fn replies_reactions_edits_deletion_and_a_timer_in_a_group_leave_no_trace() {
    let lab = Lab::new(3);
    let (mut alice, mut bob, mut carol) = trio(&lab);
    alice.ok(&["group", "create", "walkers"]);
    start_walkers(&mut alice, &mut bob, &mut carol);
    let id = alice
        .ok(&["group", "send", "walkers", "meet at the old mill at nine"])
        .trim()
        .to_owned();
    for p in [&bob, &carol] {
        assert!(
            wait_until(PATIENCE, || group_message(p, "walkers", &id).is_some()),
            "{} never got the post",
            p.name
        );
    }
    // The end of the id, as `group messages` shows it.
    let short = &id[24..];
    let reply = bob
        .ok(&["group", "reply", "walkers", short, "which mill?"])
        .trim()
        .to_owned();
    carol.ok(&["group", "react", "walkers", short, "👍"]);
    carol.ok(&["group", "react", "walkers", short, "❤️"]);
    let carol_id = carol.json(&["status"])["id"].as_str().unwrap().to_owned();
    for p in [&alice, &bob, &carol] {
        assert!(
            wait_until(PATIENCE, || group_message(p, "walkers", &id).is_some_and(
                |m| {
                    m["reactions"].as_array().is_some_and(|r| {
                        r.len() == 1
                            && r[0]["emoji"] == "❤️"
                            && (r[0]["by"] == carol_id.as_str() || r[0]["by"] == "you")
                    })
                }
            ) && group_message(p, "walkers", &reply)
                .is_some_and(|m| {
                    m["reply_to"] == id.as_str() && m["quote"] == "meet at the old mill at nine"
                })),
            "{} does not see carol's one reaction and bob's reply: {:?}",
            p.name,
            p.json(&["group", "messages", "walkers"])
        );
    }

    // What the CLI refuses, clearly.
    for (who, args, says) in [
        (
            &bob,
            vec!["edit", "walkers", short, "I said ten"],
            "only its author",
        ),
        (&bob, vec!["delete", "walkers", short], "only its author"),
        (&carol, vec!["react", "walkers", short, "lol"], "one emoji"),
        (
            &carol,
            vec!["react", "walkers", "ffffffffff", "👍"],
            "no message",
        ),
        (&bob, vec!["reply", "walkers", "zz", "x"], "hex digits"),
        (&carol, vec!["disappear", "walkers", "1d"], "only admins"),
        (
            &alice,
            vec!["disappear", "walkers", "2s"],
            "between 5 seconds",
        ),
    ] {
        let mut full = vec!["group"];
        full.extend(args.iter());
        let out = who.cli(&full);
        assert!(!out.status.success(), "`{}` succeeded", full.join(" "));
        assert!(
            stderr(&out).contains(says),
            "`{}`: unclear error: {}",
            full.join(" "),
            stderr(&out)
        );
    }

    // Alice edits: everyone sees the new text, marked edited.
    alice.ok(&[
        "group",
        "edit",
        "walkers",
        short,
        "meet at the new mill at ten",
    ]);
    for p in [&bob, &carol] {
        assert!(
            wait_until(PATIENCE, || group_message(p, "walkers", &id).is_some_and(
                |m| m["text"] == "meet at the new mill at ten" && m["edited"] == true
            )),
            "{} does not see the edit",
            p.name
        );
    }
    let shown = bob.ok(&["group", "messages", "walkers"]);
    assert!(
        shown.contains("(edited)") && shown.contains("❤️") && shown.contains("↪"),
        "{shown}"
    );

    // Carol posts; alice, an admin, deletes it; alice deletes her own.
    let plan = carol
        .ok(&["group", "send", "walkers", "carol's secret plan"])
        .trim()
        .to_owned();
    assert!(wait_until(PATIENCE, || group_message(
        &alice, "walkers", &plan
    )
    .is_some()));
    alice.ok(&["group", "delete", "walkers", &plan[24..]]);
    alice.ok(&["group", "delete", "walkers", short]);
    for p in [&alice, &bob, &carol] {
        for gone in [&id, &plan] {
            assert!(
                wait_until(PATIENCE, || group_message(p, "walkers", gone)
                    .is_some_and(|m| m["deleted"] == true && m["text"] == "")),
                "{} still shows a deleted post",
                p.name
            );
        }
    }
    let out = bob.cli(&["group", "react", "walkers", short, "😮"]);
    assert!(!out.status.success() && stderr(&out).contains("deleted"));

    // A timer: set by the admin, shown to all, and what is written after it
    // is gone from everyone once it expires.
    alice.ok(&["group", "disappear", "walkers", "8s"]);
    for p in [&alice, &bob, &carol] {
        assert!(
            wait_until(PATIENCE, || p.json(&["group", "list"])[0]["timer"] == 8),
            "{} does not show the timer",
            p.name
        );
    }
    let burn = bob
        .ok(&["group", "send", "walkers", "burn after reading"])
        .trim()
        .to_owned();
    for p in [&alice, &bob, &carol] {
        assert!(
            wait_until(PATIENCE, || group_message(p, "walkers", &burn).is_none()
                && texts(p, "walkers").contains(&"which mill?".to_owned())),
            "{} still shows the expired post",
            p.name
        );
    }

    for p in [&mut alice, &mut bob, &mut carol] {
        p.stop();
    }
    for p in [&alice, &bob, &carol] {
        for needle in ["old mill", "new mill", "secret plan", "burn after"] {
            assert!(
                !group_store_holds(p, needle),
                "{}'s store still holds {needle:?}",
                p.name
            );
        }
        assert!(
            group_store_holds(p, "which mill?"),
            "the check can see what is there"
        );
    }
}

#[test]
fn group_operations_go_through_a_stranger_while_a_member_is_away() {
    // alice: bridge 0; bob, a stranger to both: bridges 0 and 1; carol
    // joins on bridge 0 (host 3), then walks to bridge 1 (host 2), where
    // only bob can reach her.
    let lab = Lab::with_bridges(&[vec![0], vec![0, 1], vec![1], vec![0]]);
    let mut alice = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(1)));
    let mut carol = Peer::new("carol", Some(lab.host(3)));
    alice.add(&carol);
    carol.add(&alice);
    alice.ok(&["group", "create", "walkers"]);
    alice.ok(&["group", "add", "walkers", "carol"]);
    for p in [&mut alice, &mut bob, &mut carol] {
        p.start();
    }
    let id = alice
        .ok(&["group", "send", "walkers", "the key is under the blue pot"])
        .trim()
        .to_owned();
    let second = alice
        .ok(&["group", "send", "walkers", "and the code is 4711"])
        .trim()
        .to_owned();
    assert!(
        wait_until(PATIENCE, || group_message(&carol, "walkers", &second)
            .is_some()
            && group_message(&carol, "walkers", &id).is_some()),
        "the group never reached carol"
    );
    carol.stop();
    carol.move_to(lab.host(2));
    assert!(
        wait_until(PATIENCE, || alice.links() == 1),
        "alice still sees carol"
    );

    // While carol is away alice edits one post and deletes the other.
    alice.ok(&[
        "group",
        "edit",
        "walkers",
        &id[24..],
        "the key is under the red pot",
    ]);
    alice.ok(&["group", "delete", "walkers", &second[24..]]);
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
        wait_until(PATIENCE, || group_message(&carol, "walkers", &id)
            .is_some_and(
                |m| m["text"] == "the key is under the red pot" && m["edited"] == true
            )),
        "the edit did not come through bob: {:?}",
        carol.json(&["group", "messages", "walkers"])
    );
    assert!(
        wait_until(PATIENCE, || group_message(&carol, "walkers", &second)
            .is_some_and(|m| m["deleted"] == true)),
        "the deletion did not come through bob"
    );
    // Bob carried them without learning anything: no contacts, no groups.
    assert!(bob.json(&["contacts"]).as_array().unwrap().is_empty());
    assert!(bob.json(&["group", "list"]).as_array().unwrap().is_empty());
    carol.stop();
    bob.stop();
    assert!(
        !group_store_holds(&carol, "4711"),
        "carol's store keeps the deleted text"
    );
    assert!(!group_store_holds(&bob, "4711") && !group_store_holds(&bob, "pot"));
    // An edit keeps the earlier text in the history, unlike a deletion.
    assert!(group_store_holds(&carol, "blue pot"));
}

/// How many chunks of group files `p`'s store (stopped) holds.
fn group_chunks_stored(p: &Peer) -> u64 {
    cairn_store::RedbStore::open(&p.store_path(), cairn_tests::PASSPHRASE.as_bytes())
        .unwrap()
        .store
        .group_chunks_stored()
        .unwrap()
}

#[test]
fn a_voice_note_in_a_group_comes_from_any_member_and_deletion_erases_it_from_every_store() {
    let lab = Lab::new(3);
    let (mut alice, mut bob, mut carol) = trio(&lab);
    alice.ok(&["group", "create", "walkers"]);
    start_walkers(&mut alice, &mut bob, &mut carol);
    carol.stop();
    let said = alice.profile().join("said.wav");
    cairn_tests::speak(
        "The bridge is closed. Take the ferry at noon, and bring the children.",
        &said,
    );
    let original = voice::from_wav(&std::fs::read(&said).unwrap()).unwrap();
    let id = alice
        .ok(&["group", "send-voice", "walkers", said.to_str().unwrap()])
        .trim()
        .to_owned();
    let whole = |p: &Peer| {
        group_message(p, "walkers", &id).is_some_and(|m| m["file"]["state"] == "complete")
    };
    // Well within one 30-s tick: a fetch that had to wait for the retry
    // (a want answered before the author's chunks were committed, once)
    // fails here.
    let prompt = Duration::from_secs(20);
    assert!(
        wait_until(prompt, || whole(&bob)),
        "bob never got the voice note whole: {:?}",
        group_message(&bob, "walkers", &id)
    );
    // Alice, who wrote it, goes; carol comes back: bob has it, and gives it.
    alice.stop();
    carol.start();
    assert!(
        wait_until(PATIENCE, || group_message(&carol, "walkers", &id).is_some()),
        "carol never got the post from bob"
    );
    assert!(
        wait_until(prompt, || whole(&carol)),
        "carol never got the voice note from bob: {:?}",
        group_message(&carol, "walkers", &id)
    );
    let m = group_message(&carol, "walkers", &id).unwrap();
    assert_eq!(m["file"]["mime"], voice::MIME, "{m}");
    assert!(
        carol
            .ok(&["group", "messages", "walkers"])
            .contains("[voice note]")
    );
    let short = &id[24..];
    let heard_path = carol.profile().join("heard.wav");
    carol.ok(&[
        "group",
        "voice",
        "walkers",
        short,
        "--out",
        heard_path.to_str().unwrap(),
    ]);
    let heard = voice::from_wav(&std::fs::read(&heard_path).unwrap()).unwrap();
    assert_eq!(heard.len(), original.len(), "the duration changed");
    let similarity = voice::similarity(&voice::envelope(&original), &voice::envelope(&heard));
    assert!(similarity > 0.9, "envelope similarity {similarity}");
    // A text is not a voice note, and a file is not edited.
    let text = carol
        .ok(&["group", "send", "walkers", "on my way"])
        .trim()
        .to_owned();
    let out = carol.cli(&[
        "group",
        "voice",
        "walkers",
        &text[24..],
        "--out",
        "/tmp/x.wav",
    ]);
    assert!(!out.status.success() && stderr(&out).contains("not a file"));
    carol.stop();
    assert!(
        group_chunks_stored(&carol) > 0,
        "the check sees what is there"
    );

    // Alice deletes it: its content goes from every store.
    alice.start();
    carol.start();
    assert!(whole(&carol), "held whole across a restart");
    let out = alice.cli(&["group", "edit", "walkers", short, "x"]);
    assert!(!out.status.success() && stderr(&out).contains("cannot be edited"));
    alice.ok(&["group", "delete", "walkers", short]);
    for p in [&alice, &bob, &carol] {
        assert!(
            wait_until(PATIENCE, || group_message(p, "walkers", &id)
                .is_some_and(|m| m["deleted"] == true && m["file"].is_null())),
            "{} still shows the voice note",
            p.name
        );
    }
    for p in [&mut alice, &mut bob, &mut carol] {
        p.stop();
    }
    for p in [&alice, &bob, &carol] {
        assert_eq!(
            group_chunks_stored(p),
            0,
            "{}'s store keeps the voice note",
            p.name
        );
    }
}
