//! One person, several devices (docs/DEVICES.md), on the core: linking with
//! a one-time code, fan-out to every device, copies of what one device sent
//! on the others, revocation, and lists signed by the wrong key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use cairn_protocol::devices::DeviceList;
use cairn_protocol::{ContactOrigin, DeliveryState, Direction, Event, IdentityKey};
use harness::{Net, identity};

const LAPTOP: usize = 0;
const PHONE: usize = 1;
const BOB: usize = 2;

fn texts(net: &Net, n: usize, peer: usize, dir: Direction) -> Vec<String> {
    net.texts(n, peer, dir)
}

/// Alice's laptop and bob are contacts (bob verified alice); the laptop
/// links alice's phone over a link of their own. Returns the laptop–bob
/// link.
fn linked() -> Net {
    let mut net = Net::new(&["alice", "alice", "bob"]);
    net.befriend(LAPTOP, BOB);
    let alice = net.key(LAPTOP);
    net.nodes[BOB].engine.set_verified(&alice, true).unwrap();
    net.connect(LAPTOP, BOB);
    net.send(BOB, LAPTOP, "before the phone");
    let now = net.now;
    let code = net.nodes[LAPTOP]
        .engine
        .link_offer(now, Duration::from_secs(600))
        .unwrap();
    net.nodes[PHONE]
        .engine
        .join_account(now, code, "phone", false)
        .unwrap();
    net.nodes[PHONE].engine.flush(now).unwrap();
    assert!(net.nodes[PHONE].engine.is_joining());
    // The joining phone looks for the laptop at the hop (or the laptop,
    // which does not know it, would stay a stranger there).
    let laptop_static = net.nodes[LAPTOP].engine.identity().static_key().0;
    assert!(
        net.nodes[PHONE]
            .engine
            .contact_statics()
            .contains(&laptop_static)
    );
    net.connect(LAPTOP, PHONE);
    net
}

fn people(net: &Net, n: usize) -> Vec<IdentityKey> {
    net.nodes[n]
        .engine
        .contacts()
        .filter(|c| c.origin != ContactOrigin::Device)
        .map(|c| c.identity)
        .collect()
}

#[test]
fn a_linked_device_gets_the_list_and_the_contacts() {
    let net = linked();
    let phone = &net.nodes[PHONE].engine;
    assert!(!phone.is_joining());
    assert_eq!(phone.account_key(), net.key(LAPTOP));
    assert!(!phone.is_account_holder());
    let list = phone.device_list().unwrap();
    assert!(list.contains(&net.key(LAPTOP)) && list.contains(&net.key(PHONE)));
    assert_eq!(net.nodes[LAPTOP].engine.device_list(), Some(list));
    // Bob came over as a contact of the phone's own.
    assert_eq!(people(&net, PHONE), vec![net.key(BOB)]);
    assert!(
        net.nodes[PHONE]
            .events
            .iter()
            .any(|e| matches!(e, Event::DevicesChanged))
    );
}

#[test]
fn a_contact_learns_the_new_device_and_keeps_verification() {
    let net = linked();
    let bob = &net.nodes[BOB].engine;
    let phone = bob.contact(&net.key(PHONE)).expect("bob knows the phone");
    assert_eq!(phone.origin, ContactOrigin::Device);
    assert_eq!(phone.account, Some(net.key(LAPTOP)));
    // One alice, still verified.
    assert_eq!(people(&net, BOB), vec![net.key(LAPTOP)]);
    assert!(bob.contact(&net.key(LAPTOP)).unwrap().verified);
}

#[test]
fn messages_reach_every_device_and_each_shows_both_sides() {
    let mut net = linked();
    net.connect(PHONE, BOB);
    // Bob writes once: both of alice's devices have it, in the
    // conversation with bob.
    net.send(BOB, LAPTOP, "hi alice");
    for device in [LAPTOP, PHONE] {
        assert!(
            texts(&net, device, BOB, Direction::Incoming).contains(&"hi alice".to_owned()),
            "device {device}"
        );
    }
    // Alice writes from each device: bob sees one conversation with alice,
    // in order; each device shows what the other sent.
    net.advance(Duration::from_millis(5));
    let now = net.now;
    let bob = net.key(BOB);
    net.nodes[PHONE]
        .engine
        .send_text(now, &bob, "from the phone")
        .unwrap();
    net.nodes[PHONE].engine.flush(now).unwrap();
    net.pump();
    net.advance(Duration::from_millis(5));
    net.send(LAPTOP, BOB, "from the laptop");
    assert_eq!(
        texts(&net, BOB, LAPTOP, Direction::Incoming),
        vec!["from the phone", "from the laptop"]
    );
    assert!(net.history(BOB, PHONE).is_empty(), "no second alice");
    for device in [LAPTOP, PHONE] {
        assert_eq!(
            texts(&net, device, BOB, Direction::Outgoing),
            vec!["from the phone", "from the laptop"],
            "device {device}"
        );
    }
    // Delivered to bob, from whichever device sent it.
    let state = |n: usize, text: &str| {
        net.history(n, BOB)
            .into_iter()
            .find(|m| m.text == text)
            .unwrap()
            .state
    };
    assert_eq!(state(PHONE, "from the phone"), DeliveryState::Delivered);
    assert_eq!(state(LAPTOP, "from the laptop"), DeliveryState::Delivered);
    // Exactly once each, everywhere.
    for n in [LAPTOP, PHONE, BOB] {
        let peer = if n == BOB { LAPTOP } else { BOB };
        let ids: Vec<_> = net.history(n, peer).iter().map(|m| m.id).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "node {n} holds a duplicate");
    }
}

#[test]
fn a_revoked_device_receives_nothing_written_afterwards() {
    let mut net = linked();
    net.connect(PHONE, BOB);
    net.send(BOB, LAPTOP, "before the revocation");
    assert!(texts(&net, PHONE, BOB, Direction::Incoming).contains(&"before the revocation".into()));
    let phone_key = net.key(PHONE);
    let now = net.now;
    net.nodes[LAPTOP]
        .engine
        .revoke_device(now, &phone_key)
        .unwrap();
    net.nodes[LAPTOP].engine.flush(now).unwrap();
    net.pump();
    // Bob heard the new list: he no longer looks for the phone at the hop.
    let phone_static = net.nodes[BOB]
        .engine
        .contact(&phone_key)
        .unwrap()
        .static_key()
        .0;
    assert!(
        !net.nodes[BOB]
            .engine
            .contact_statics()
            .contains(&phone_static)
    );
    // The phone is still linked and running.
    net.send(BOB, LAPTOP, "after the revocation");
    net.send(LAPTOP, BOB, "laptop after");
    net.advance(Duration::from_secs(60));
    let phone_has = |net: &Net, text: &str| net.history(PHONE, BOB).iter().any(|m| m.text == text);
    assert!(!phone_has(&net, "after the revocation"));
    assert!(!phone_has(&net, "laptop after"));
    assert!(texts(&net, LAPTOP, BOB, Direction::Incoming).contains(&"after the revocation".into()));
    // What the revoked phone writes is not alice any more.
    let bob = net.key(BOB);
    let now = net.now;
    net.nodes[PHONE]
        .engine
        .send_text(now, &bob, "still me?")
        .unwrap();
    net.nodes[PHONE].engine.flush(now).unwrap();
    net.pump();
    net.advance(Duration::from_secs(30));
    assert!(
        !net.history(BOB, LAPTOP)
            .iter()
            .any(|m| m.text == "still me?")
    );
    assert!(
        !net.history(BOB, PHONE)
            .iter()
            .any(|m| m.text == "still me?")
    );
    // A revoked key never comes back, not even signed by the account.
    let alice = identity(1);
    let mut list = net.nodes[LAPTOP].engine.device_list().unwrap().clone();
    assert!(
        list.add(&alice, identity(2).binding().clone(), "phone", false)
            .is_err()
    );
}

#[test]
fn a_link_code_works_once_and_not_after_a_wrong_guess() {
    let mut net = Net::new(&["alice", "mallory", "phone", "late"]);
    let now = net.now;
    let code = net.nodes[0]
        .engine
        .link_offer(now, Duration::from_secs(600))
        .unwrap();
    let mut guess = code.clone();
    guess.secret[0] ^= 1;
    net.nodes[1]
        .engine
        .join_account(now, guess, "evil", false)
        .unwrap();
    net.nodes[1].engine.flush(now).unwrap();
    net.connect(0, 1);
    assert!(
        net.nodes[1].engine.is_joining(),
        "a wrong secret links nothing"
    );
    assert!(net.nodes[0].engine.device_list().is_none());
    // The right code after a wrong guess: void too.
    net.nodes[2]
        .engine
        .join_account(now, code, "phone", false)
        .unwrap();
    net.nodes[2].engine.flush(now).unwrap();
    net.connect(0, 2);
    assert!(net.nodes[2].engine.is_joining());
    assert!(net.nodes[0].engine.device_list().is_none());
    // An expired code links nothing either.
    let code = net.nodes[0]
        .engine
        .link_offer(net.now, Duration::from_secs(600))
        .unwrap();
    net.advance(Duration::from_secs(601));
    let now = net.now;
    net.nodes[3]
        .engine
        .join_account(now, code, "late", false)
        .unwrap();
    net.nodes[3].engine.flush(now).unwrap();
    net.connect(0, 3);
    assert!(net.nodes[3].engine.is_joining());
    assert!(net.nodes[0].engine.device_list().is_none());
}

#[test]
fn a_device_list_signed_by_another_key_is_refused_loudly() {
    let mut net = linked();
    // The laptop's store is tampered with: its list is now one eve signed.
    let eve = identity(99);
    let forged = DeviceList::first(&eve, "eve's").unwrap();
    let now = net.now;
    net.nodes[LAPTOP]
        .engine
        .put_setting("devices/list", forged.encode());
    net.nodes[LAPTOP].engine.flush(now).unwrap();
    // Give it a second device so that it has a list to announce.
    let mut two = forged.clone();
    two.add(&eve, identity(98).binding().clone(), "x", false)
        .unwrap();
    net.nodes[LAPTOP]
        .engine
        .put_setting("devices/list", two.encode());
    net.nodes[LAPTOP].engine.flush(now).unwrap();
    net.restart(LAPTOP);
    net.connect(LAPTOP, BOB);
    let alice = net.key(LAPTOP);
    assert!(
        net.nodes[BOB]
            .events
            .iter()
            .any(|e| matches!(e, Event::DeviceListRefused { peer, .. } if *peer == alice)),
        "bob was told: {:?}",
        net.nodes[BOB].events
    );
    // Nothing changed: the phone is still alice's, eve's device is not.
    let bob = &net.nodes[BOB].engine;
    assert!(bob.contact(&identity(98).key()).is_none());
    assert!(bob.contact(&net.key(PHONE)).is_some());
}

/// Alice's laptop links her mailbox; bob writes while the laptop is off:
/// the mailbox holds it (bob sees "held"), hands it to the laptop when it
/// comes back (bob gone by then), and bob sees "delivered" once he meets
/// the laptop again. The laptop has it exactly once.
#[test]
fn a_mailbox_holds_while_the_laptop_is_off_and_hands_it_over() {
    let mut net = Net::new(&["alice", "alice", "bob"]);
    const MAILBOX: usize = PHONE;
    net.befriend(LAPTOP, BOB);
    let (lb, _) = net.connect(LAPTOP, BOB);
    let (lm, _) = net.link_device(LAPTOP, MAILBOX, "mailbox", true);
    assert!(net.nodes[MAILBOX].engine.is_mailbox());
    assert!(
        net.nodes[LAPTOP]
            .engine
            .device_list()
            .unwrap()
            .devices()
            .iter()
            .any(|d| d.mailbox && d.key() == net.key(MAILBOX))
    );
    assert!(
        net.nodes[BOB].engine.contact(&net.key(MAILBOX)).is_some(),
        "bob learned the mailbox"
    );
    let (mb, _) = net.connect(MAILBOX, BOB);
    // The laptop goes off.
    net.disconnect(lb);
    net.disconnect(lm);
    net.send(BOB, LAPTOP, "while you were away");
    let state = |net: &Net| {
        net.history(BOB, LAPTOP)
            .into_iter()
            .find(|m| m.text == "while you were away")
            .unwrap()
            .state
    };
    assert_eq!(state(&net), DeliveryState::Held);
    // Bob goes too; the laptop comes back to the mailbox only.
    net.disconnect(mb);
    net.connect(LAPTOP, MAILBOX);
    assert_eq!(
        texts(&net, LAPTOP, BOB, Direction::Incoming),
        vec!["while you were away"]
    );
    assert_eq!(state(&net), DeliveryState::Held, "bob has not heard yet");
    // Bob and the laptop meet: delivered, and still one copy.
    net.connect(LAPTOP, BOB);
    net.advance(Duration::from_secs(10));
    assert_eq!(state(&net), DeliveryState::Delivered);
    assert_eq!(
        texts(&net, LAPTOP, BOB, Direction::Incoming),
        vec!["while you were away"]
    );
    assert_eq!(net.nodes[BOB].engine.outbox_len(), 0);
}

/// A mailbox never says "delivered", and a plain device never forwards.
#[test]
fn only_a_mailbox_forwards_and_it_only_says_held() {
    let mut net = linked();
    net.connect(PHONE, BOB);
    let phone = net.key(PHONE);
    assert!(!net.nodes[PHONE].engine.is_mailbox());
    net.send(BOB, LAPTOP, "to both");
    // Both plain devices said delivered; neither sent the other a copy of
    // an incoming message (each had it from bob).
    assert_eq!(
        net.history(BOB, LAPTOP)
            .into_iter()
            .find(|m| m.text == "to both")
            .unwrap()
            .state,
        DeliveryState::Delivered
    );
    assert_eq!(net.nodes[LAPTOP].engine.outbox_len(), 0);
    assert_eq!(net.nodes[PHONE].engine.outbox_len(), 0);
    assert!(net.nodes[BOB].engine.contact(&phone).is_some());
}

/// The new device gets the past: what the laptop exchanged with bob before
/// the link, both ways, in order, already read, and no news to anyone.
#[test]
fn a_linked_device_gets_the_history() {
    let mut net = Net::new(&["alice", "alice", "bob"]);
    net.befriend(LAPTOP, BOB);
    net.connect(LAPTOP, BOB);
    for i in 0..20 {
        net.advance(Duration::from_millis(10));
        if i % 2 == 0 {
            net.send(BOB, LAPTOP, &format!("old {i}"));
        } else {
            net.send(LAPTOP, BOB, &format!("old {i}"));
        }
    }
    net.link_device(LAPTOP, PHONE, "phone", false);
    let now = net.now;
    let linked = net.nodes[LAPTOP].events.iter().find_map(|e| match e {
        Event::DeviceLinked { device } => Some(*device),
        _ => None,
    });
    assert_eq!(linked, Some(net.key(PHONE)));
    let past = net.history(LAPTOP, BOB);
    let (phone, bob) = (net.key(PHONE), net.key(BOB));
    let queued = net.nodes[LAPTOP]
        .engine
        .hand_history(now, &phone, past.clone());
    assert_eq!(queued, 20);
    net.nodes[LAPTOP].engine.flush(now).unwrap();
    net.pump();
    let got = net.history(PHONE, BOB);
    let picture = |h: &[cairn_protocol::MessageRecord]| -> Vec<(String, Direction)> {
        h.iter().map(|m| (m.text.clone(), m.direction)).collect()
    };
    assert_eq!(picture(&got), picture(&past));
    assert!(
        got.iter()
            .all(|m| matches!(m.state, DeliveryState::Read | DeliveryState::Delivered))
    );
    assert!(
        !net.nodes[PHONE]
            .events
            .iter()
            .any(|e| matches!(e, Event::MessageReceived(_))),
        "history is not news"
    );
    assert_eq!(net.nodes[LAPTOP].engine.outbox_len(), 0, "all acknowledged");
    // Handed again (a second link code, say): nothing twice.
    let now = net.now;
    let again = net.nodes[LAPTOP]
        .engine
        .hand_history(now, &phone, past.clone());
    assert_eq!(again, 20);
    net.nodes[LAPTOP].engine.flush(net.now).unwrap();
    net.pump();
    assert_eq!(net.history(PHONE, BOB).len(), 20);
    // Only a device of ours gets it.
    assert_eq!(net.nodes[LAPTOP].engine.hand_history(now, &bob, past), 0);
}

fn group_texts(net: &Net, n: usize, g: &cairn_protocol::GroupId) -> Vec<(IdentityKey, String)> {
    net.nodes[n]
        .engine
        .group(g)
        .map(|g| {
            g.messages()
                .into_iter()
                .map(|m| (m.author, m.text))
                .collect()
        })
        .unwrap_or_default()
}

fn group_post(net: &mut Net, n: usize, g: &cairn_protocol::GroupId, text: &str) {
    net.advance(Duration::from_millis(10));
    let now = net.now;
    net.nodes[n].engine.group_send(now, g, text).unwrap();
    net.nodes[n].engine.flush(now).unwrap();
    net.pump();
}

/// Alice's laptop and phone and bob, all linked; bob makes a group and adds
/// alice (her phone comes along, from her device list).
fn walkers() -> (Net, cairn_protocol::GroupId) {
    let mut net = linked();
    net.connect(PHONE, BOB);
    let now = net.now;
    let alice = net.key(LAPTOP);
    let bob = &mut net.nodes[BOB].engine;
    let g = bob.group_create(now, "walkers").unwrap();
    bob.group_add(now, &g, &alice).unwrap();
    bob.flush(now).unwrap();
    net.pump();
    (net, g)
}

#[test]
fn a_group_lists_alice_once_and_both_her_devices_read_and_post() {
    let (mut net, g) = walkers();
    let alice = net.key(LAPTOP);
    group_post(&mut net, LAPTOP, &g, "from the laptop");
    group_post(&mut net, PHONE, &g, "from the phone");
    group_post(&mut net, BOB, &g, "from bob");
    let bob = net.key(BOB);
    let want = vec![
        (alice, "from the laptop".to_owned()),
        (alice, "from the phone".to_owned()),
        (bob, "from bob".to_owned()),
    ];
    for n in [LAPTOP, PHONE, BOB] {
        assert_eq!(group_texts(&net, n, &g), want, "node {n}");
        let members = net.nodes[n].engine.group(&g).unwrap().members();
        assert_eq!(members.len(), 2, "node {n}: alice once, and bob");
        let a = members.iter().find(|m| m.identity == alice).unwrap();
        assert_eq!(a.devices.len(), 1);
        assert_eq!(a.devices[0].identity, net.key(PHONE));
    }
}

#[test]
fn a_device_linked_later_joins_alices_groups_with_their_history() {
    let mut net = Net::new(&["alice", "alice", "bob"]);
    net.befriend(LAPTOP, BOB);
    net.connect(LAPTOP, BOB);
    let now = net.now;
    let alice = net.key(LAPTOP);
    let bob = &mut net.nodes[BOB].engine;
    let g = bob.group_create(now, "walkers").unwrap();
    bob.group_add(now, &g, &alice).unwrap();
    bob.flush(now).unwrap();
    net.pump();
    group_post(&mut net, BOB, &g, "before the phone");
    net.link_device(LAPTOP, PHONE, "phone", false);
    net.pump();
    assert_eq!(
        group_texts(&net, PHONE, &g),
        vec![(net.key(BOB), "before the phone".to_owned())]
    );
    group_post(&mut net, PHONE, &g, "the phone is here");
    assert_eq!(
        group_texts(&net, BOB, &g).last(),
        Some(&(alice, "the phone is here".to_owned())),
        "through the laptop: bob and the phone share no link"
    );
    assert_eq!(net.nodes[BOB].engine.group(&g).unwrap().members().len(), 2);
}

#[test]
fn a_revoked_device_gets_nothing_written_in_the_group_afterwards() {
    let (mut net, g) = walkers();
    group_post(&mut net, BOB, &g, "before");
    assert_eq!(group_texts(&net, PHONE, &g).len(), 1);
    let epoch = net.nodes[BOB].engine.group(&g).unwrap().doc.epoch();
    let phone = net.key(PHONE);
    let now = net.now;
    net.nodes[LAPTOP].engine.revoke_device(now, &phone).unwrap();
    net.nodes[LAPTOP].engine.flush(now).unwrap();
    net.pump();
    // Alice is a plain member; bob, the admin, starts the new epoch.
    for n in [LAPTOP, BOB] {
        let doc = &net.nodes[n].engine.group(&g).unwrap().doc;
        assert_eq!(doc.epoch(), epoch + 1, "node {n}");
        assert!(doc.sealed_keys_for(&phone).is_empty());
        assert!(!doc.is_member(&phone));
    }
    // The phone keeps running, linked to both.
    group_post(&mut net, BOB, &g, "after");
    group_post(&mut net, LAPTOP, &g, "laptop after");
    net.advance(Duration::from_secs(60));
    let texts = |net: &Net, n| {
        group_texts(net, n, &g)
            .into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&net, PHONE), vec!["before"]);
    assert_eq!(texts(&net, BOB), vec!["before", "after", "laptop after"]);
    let now = net.now;
    assert!(
        net.nodes[PHONE]
            .engine
            .group_send(now, &g, "still me?")
            .is_err()
    );
}

/// `n` applies `kind` to `target` in its conversation with bob.
fn op_to_bob(
    net: &mut Net,
    n: usize,
    kind: cairn_protocol::message::OpKind,
    target: cairn_protocol::MessageId,
    text: &str,
) {
    net.advance(Duration::from_millis(5));
    let (bob, now) = (net.key(BOB), net.now);
    net.nodes[n]
        .engine
        .send_op(now, &bob, None, kind, target, text)
        .unwrap();
    net.nodes[n].engine.flush(now).unwrap();
    net.pump();
}

#[test]
fn operations_made_on_one_device_show_on_the_others_and_in_handed_history() {
    use cairn_protocol::message::OpKind;
    let mut net = linked();
    net.connect(PHONE, BOB);
    let first = net.send(LAPTOP, BOB, "see you at noon");
    let second = net.send(LAPTOP, BOB, "bring the map");
    let from_bob = net.send(BOB, LAPTOP, "ok!");
    // From the laptop: an edit, a reaction to bob's text, a deletion, a timer.
    op_to_bob(&mut net, LAPTOP, OpKind::Edit, first, "see you at one");
    op_to_bob(&mut net, LAPTOP, OpKind::React, from_bob, "👍");
    op_to_bob(&mut net, LAPTOP, OpKind::Delete, second, "");
    let (now, bob) = (net.now, net.key(BOB));
    net.nodes[LAPTOP]
        .engine
        .set_disappearing(now, &bob, 86_400)
        .unwrap();
    net.nodes[LAPTOP].engine.flush(now).unwrap();
    net.pump();
    let find = |net: &Net, n: usize, id| {
        let with = if n == BOB { LAPTOP } else { BOB };
        net.history(n, with)
            .into_iter()
            .find(|m| m.id == id)
            .unwrap()
    };
    for n in [PHONE, BOB] {
        let peer_dir = if n == BOB {
            Direction::Incoming
        } else {
            Direction::Outgoing
        };
        let m = find(&net, n, first);
        assert_eq!(
            (m.text.as_str(), m.direction),
            ("see you at one", peer_dir),
            "node {n}"
        );
        assert!(find(&net, n, second).changes.deleted, "node {n}");
        let reacted = find(&net, n, from_bob);
        assert_eq!(reacted.changes.shown_reactions().count(), 1, "node {n}");
    }
    assert_eq!(net.nodes[PHONE].engine.disappearing(&bob), Some(86_400));
    // The phone shows no stray line for any operation.
    let shown: Vec<String> = net
        .history(PHONE, BOB)
        .into_iter()
        .filter(|m| m.op.is_none())
        .map(|m| m.text)
        .collect();
    assert!(shown.iter().all(|t| !t.contains('👍')), "{shown:?}");

    // A device linked later gets the history with the changes applied and
    // nothing of the deleted message.
    let mut fresh = Net::new(&["alice", "alice", "bob"]);
    fresh.befriend(LAPTOP, BOB);
    fresh.connect(LAPTOP, BOB);
    let a = fresh.send(LAPTOP, BOB, "draft one");
    let b = fresh.send(LAPTOP, BOB, "oops");
    op_to_bob(&mut fresh, LAPTOP, OpKind::Edit, a, "draft two");
    op_to_bob(&mut fresh, LAPTOP, OpKind::Delete, b, "");
    fresh.link_device(LAPTOP, PHONE, "phone", false);
    let past = fresh.history(LAPTOP, BOB);
    let (phone, now) = (fresh.key(PHONE), fresh.now);
    fresh.nodes[LAPTOP].engine.hand_history(now, &phone, past);
    fresh.nodes[LAPTOP].engine.flush(now).unwrap();
    fresh.pump();
    let got = fresh.history(PHONE, BOB);
    let m = got.iter().find(|m| m.id == a).unwrap();
    assert_eq!(m.text, "draft two");
    assert!(m.changes.edited_at.is_some());
    assert!(got.iter().all(|m| !m.text.contains("oops") && m.id != b));
}
