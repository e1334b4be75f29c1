//! One person, several devices, with real `cairn` processes in network
//! namespaces on one LAN (docs/DEVICES.md): linking with a one-time code,
//! both devices writing to bob, revocation, and a mailbox that holds what
//! bob writes while the laptop is off.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cairn_tests::{Lab, Peer, mailbox_holds_and_hands_over, stderr, wait_until};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(90);

fn texts(p: &Peer, with: &str, direction: &str) -> Vec<String> {
    p.messages(with)
        .iter()
        .filter(|m| m["direction"] == direction)
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

fn group_texts(p: &Peer) -> Vec<(String, String)> {
    p.json(&["group", "messages", "walkers"])
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    let s = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
                    (s("author"), s("text"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn devices(p: &Peer) -> Value {
    p.json(&["device", "list"])
}

/// `laptop` shows a link code; a new profile in `netns` joins with it.
fn link(laptop: &Peer, netns: &str, name: &str, extra: &[&str]) -> Peer {
    let out = laptop.ok(&["device", "link"]);
    let code = out.lines().next().unwrap().trim().to_owned();
    assert!(code.starts_with("cairn:link:"), "{out}");
    let device = Peer::empty(name, Some(netns));
    let mut args = vec!["init", "--link", &code, "--device-name", name];
    args.extend_from_slice(extra);
    device.ok(&args);
    assert_eq!(devices(&device)["joining"], true);
    device
}

/// bob's contact named alice.
fn alice_at(bob: &Peer) -> Value {
    let contacts = bob.json(&["contacts"]);
    let all = contacts.as_array().unwrap();
    assert_eq!(all.len(), 1, "bob sees one alice: {contacts}");
    all[0].clone()
}

#[test]
fn a_second_device_links_and_both_write_to_bob() {
    let lab = Lab::new(3);
    let mut laptop = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(2)));
    laptop.add(&bob);
    bob.add(&laptop);
    bob.ok(&["verify", "alice", "--confirm"]);
    laptop.start();
    bob.start();
    // Some history before the phone exists.
    bob.send("alice", "old news");
    assert!(wait_until(PATIENCE, || texts(&laptop, "bob", "in") == ["old news"]));
    laptop.send("bob", "old reply");
    assert!(wait_until(PATIENCE, || texts(&bob, "alice", "in") == ["old reply"]));

    // `device link` needs the node that will answer the new device.
    let mut phone = link(&laptop, lab.host(1), "phone", &[]);
    phone.start();
    let linked = wait_until(PATIENCE, || {
        let d = devices(&phone);
        d["joining"] == false && d["devices"].as_array().map_or(0, Vec::len) == 2
    });
    assert!(
        linked,
        "the phone did not link: {}\n{}\n{}",
        devices(&phone),
        phone.all_logs(),
        laptop.all_logs()
    );
    let d = devices(&phone);
    assert_eq!(d["account"], laptop.id().as_str());
    assert_eq!(d["holder"], false);
    let ids = |d: &Value| -> Vec<String> {
        d["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&devices(&laptop)), ids(&d));
    // The phone has bob (under the laptop's alias for him).
    let contacts = phone.json(&["contacts"]);
    assert_eq!(contacts[0]["name"], "bob", "{contacts}");
    // The phone got the history, both ways, in order, already read.
    assert!(
        wait_until(PATIENCE, || texts(&phone, "bob", "in") == ["old news"]
            && texts(&phone, "bob", "out") == ["old reply"]),
        "{:?}",
        phone.messages("bob")
    );
    assert_eq!(phone.state_of("bob", "old news").as_deref(), Some("read"));
    // Bob learns the phone; alice stays one contact, still verified.
    assert!(
        wait_until(PATIENCE, || alice_at(&bob)["devices"] == 2),
        "bob never heard of the phone: {}",
        bob.json(&["contacts"])
    );
    assert_eq!(alice_at(&bob)["verified"], true);

    // Bob writes once: both devices have it.
    bob.send("alice", "hi alice");
    for device in [&laptop, &phone] {
        assert!(
            wait_until(PATIENCE, || texts(device, "bob", "in")
                == ["old news", "hi alice"]),
            "{} did not get it: {:?}",
            device.name,
            device.messages("bob")
        );
    }
    // Alice writes from each; bob sees one conversation, in order.
    phone.send("bob", "from the phone");
    assert!(wait_until(PATIENCE, || texts(&bob, "alice", "in")
        == ["old reply", "from the phone"]));
    laptop.send("bob", "from the laptop");
    let both = ["old reply", "from the phone", "from the laptop"];
    assert!(
        wait_until(PATIENCE, || texts(&bob, "alice", "in") == both),
        "{:?}",
        bob.messages("alice")
    );
    // Each device shows both sides.
    for device in [&laptop, &phone] {
        assert!(
            wait_until(PATIENCE, || texts(device, "bob", "out") == both),
            "{} shows {:?}",
            device.name,
            device.messages("bob")
        );
        assert_eq!(texts(device, "bob", "in"), ["old news", "hi alice"]);
    }
    assert!(wait_until(PATIENCE, || {
        bob.state_of("alice", "hi alice").as_deref() == Some("delivered")
    }));
    assert_eq!(
        phone.state_of("bob", "from the phone").as_deref(),
        Some("delivered")
    );

    // A group: bob adds alice, her phone comes along; both devices read
    // and post, and everyone lists alice once.
    bob.ok(&["group", "create", "walkers"]);
    bob.ok(&["group", "add", "walkers", "alice"]);
    bob.ok(&["group", "send", "walkers", "welcome"]);
    for device in [&laptop, &phone] {
        assert!(
            wait_until(PATIENCE, || group_texts(device).len() == 1),
            "{} never got the group: {}",
            device.name,
            device.all_logs()
        );
    }
    laptop.ok(&["group", "send", "walkers", "laptop here"]);
    assert!(wait_until(PATIENCE, || group_texts(&phone).len() == 2));
    phone.ok(&["group", "send", "walkers", "phone here"]);
    let (a, b) = (laptop.id(), bob.id());
    let want = vec![
        (b.clone(), "welcome".to_owned()),
        (a.clone(), "laptop here".to_owned()),
        (a.clone(), "phone here".to_owned()),
    ];
    for p in [&laptop, &phone, &bob] {
        assert!(
            wait_until(PATIENCE, || group_texts(p) == want),
            "{}: {:?}",
            p.name,
            group_texts(p)
        );
        let members = p.json(&["group", "members", "walkers"]);
        let members = members.as_array().unwrap();
        assert_eq!(members.len(), 2, "{}: {members:?}", p.name);
        let alice = members.iter().find(|m| m["id"] == a.as_str()).unwrap();
        assert_eq!(alice["devices"], 1, "{alice}");
    }
    let mine = |p: &Peer| -> Vec<bool> {
        p.json(&["group", "messages", "walkers"])
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mine"] == true)
            .collect()
    };
    assert_eq!(
        mine(&phone),
        [false, true, true],
        "alice's, from either device"
    );
    let epoch = |p: &Peer| -> i64 { p.json(&["group", "list"])[0]["epoch"].as_i64().unwrap() };
    let before = epoch(&bob);

    // Revocation: the laptop revokes the phone, which keeps running.
    laptop.ok(&["device", "revoke", "phone"]);
    assert!(
        wait_until(PATIENCE, || alice_at(&bob)["devices"] == 1),
        "bob never heard of the revocation"
    );
    // The phone holds the account's list without itself, and cannot
    // link anything (it never held the account key).
    assert!(wait_until(PATIENCE, || {
        let d = devices(&phone);
        d["devices"].as_array().unwrap().len() == 1 && d["revoked"] == 1
    }));
    let refused = phone.cli(&["device", "link"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("account key"),
        "{}",
        stderr(&refused)
    );
    bob.send("alice", "after the revocation");
    laptop.send("bob", "laptop after");
    assert!(wait_until(PATIENCE, || {
        texts(&laptop, "bob", "in").contains(&"after the revocation".to_owned())
            && bob.state_of("alice", "after the revocation").as_deref() == Some("delivered")
            && bob.json(&["status"])["outbox"] == 0
            && laptop.json(&["status"])["outbox"] == 0
    }));
    // Nothing is left to send anywhere: the phone never gets these.
    let phone_texts: Vec<String> = phone
        .messages("bob")
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(!phone_texts.contains(&"after the revocation".to_owned()));
    assert!(!phone_texts.contains(&"laptop after".to_owned()));
    // In the group too: bob (the admin) started a new epoch, the phone's
    // key is out, and it gets nothing posted after.
    assert!(
        wait_until(PATIENCE, || epoch(&bob) == before + 1
            && epoch(&laptop) == before + 1),
        "no new epoch: bob {} laptop {}",
        epoch(&bob),
        epoch(&laptop)
    );
    bob.ok(&["group", "send", "walkers", "group after"]);
    laptop.ok(&["group", "send", "walkers", "laptop group after"]);
    assert!(wait_until(PATIENCE, || {
        let t = group_texts(&bob);
        t.len() == 5 && group_texts(&laptop) == t
    }));
    assert!(wait_until(PATIENCE, || bob.json(&["status"])["outbox"] == 0));
    let phone_group: Vec<String> = group_texts(&phone).into_iter().map(|(_, t)| t).collect();
    assert_eq!(phone_group, ["welcome", "laptop here", "phone here"]);
    assert!(
        !phone
            .cli(&["group", "send", "walkers", "me too?"])
            .status
            .success()
    );
    // And what the revoked phone writes is not alice: bob turns it away.
    phone.send("bob", "still me?");
    assert!(
        wait_until(PATIENCE, || bob
            .all_logs()
            .contains("a message from a device its account revoked")),
        "{}",
        bob.all_logs()
    );
    assert!(!texts(&bob, "alice", "in").contains(&"still me?".to_owned()));
    phone.stop();
    laptop.stop();
    bob.stop();
}

/// The mailbox scenario over the LAN: bob writes while the laptop is
/// off; the mailbox holds it and bob sees "held"; the laptop comes back and
/// gets it exactly once; bob sees it delivered.
#[test]
fn a_mailbox_holds_while_the_laptop_is_off() {
    let lab = Lab::new(3);
    let mut laptop = Peer::new("alice", Some(lab.host(0)));
    let mut bob = Peer::new("bob", Some(lab.host(2)));
    laptop.add(&bob);
    bob.add(&laptop);
    laptop.start();
    bob.start();
    let mut mailbox = link(&laptop, lab.host(1), "mailbox", &["--mailbox"]);
    mailbox.start();
    assert!(
        wait_until(PATIENCE, || devices(&mailbox)["joining"] == false),
        "{}",
        mailbox.all_logs()
    );
    assert!(
        devices(&laptop)["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "mailbox" && d["mailbox"] == true)
    );
    assert!(
        wait_until(PATIENCE, || alice_at(&bob)["devices"] == 2),
        "bob never heard of the mailbox"
    );

    mailbox_holds_and_hands_over(&mut laptop, &mailbox, &bob, PATIENCE);
    mailbox.stop();
    laptop.stop();
    bob.stop();
}
