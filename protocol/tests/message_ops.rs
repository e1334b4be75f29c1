//! Replies, reactions, edits and deletions between engines: carried like
//! texts (over a session or through a stranger on the mesh), applied to the
//! stored message at both ends, refused when they come from the wrong side.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use cairn_protocol::message::OpKind;
use cairn_protocol::{DeliveryState, Direction, Event, MessageId, MessageRecord};
use harness::Net;

/// `from` applies `kind` to `target` in its conversation with `to`.
fn op(
    net: &mut Net,
    from: usize,
    to: usize,
    kind: OpKind,
    target: MessageId,
    text: &str,
) -> MessageId {
    let peer = net.key(to);
    let now = net.now;
    let id = net.nodes[from]
        .engine
        .send_op(now, &peer, None, kind, target, text)
        .unwrap();
    net.nodes[from].engine.flush(now).unwrap();
    net.pump();
    id
}

fn message(net: &Net, n: usize, peer: usize, id: MessageId) -> MessageRecord {
    net.history(n, peer)
        .into_iter()
        .find(|m| m.id == id)
        .unwrap()
}

/// Whether any record `n` stores (any conversation, operations included)
/// still holds `needle`, in any form the record is stored in.
fn stores(net: &Net, n: usize, needle: &str) -> bool {
    net.nodes[n]
        .engine
        .store()
        .messages
        .iter()
        .any(|m| String::from_utf8_lossy(&m.encode()).contains(needle))
}

#[test]
fn reply_react_edit_and_delete_between_two_engines() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let hello = net.send(0, 1, "meet at the old bridge");

    let reply = op(&mut net, 1, 0, OpKind::Reply, hello, "which bridge?");
    let reply_at_alice = message(&net, 0, 1, reply);
    assert_eq!(reply_at_alice.text, "which bridge?");
    assert_eq!(reply_at_alice.op.unwrap().target, hello);

    op(&mut net, 1, 0, OpKind::React, hello, "👍");
    assert!(net.nodes[0].events.contains(&Event::MessageChanged {
        peer: net.key(1),
        id: hello
    }));
    for n in [0, 1] {
        let m = message(&net, n, 1 - n, hello);
        let by = if n == 0 {
            Direction::Incoming
        } else {
            Direction::Outgoing
        };
        assert_eq!(
            m.changes.shown_reactions().collect::<Vec<_>>(),
            vec![(by, "👍")]
        );
    }

    let edit = op(
        &mut net,
        0,
        1,
        OpKind::Edit,
        hello,
        "meet at the new bridge",
    );
    for n in [0, 1] {
        let m = message(&net, n, 1 - n, hello);
        assert_eq!(m.text, "meet at the new bridge");
        assert!(m.changes.edited_at.is_some());
        assert_eq!(m.changes.earlier[0].1, "meet at the old bridge");
    }
    assert_eq!(message(&net, 0, 1, edit).state, DeliveryState::Delivered);

    op(&mut net, 0, 1, OpKind::Delete, hello, "");
    for n in [0, 1] {
        let m = message(&net, n, 1 - n, hello);
        assert!(m.changes.deleted && m.text.is_empty());
        assert!(
            !stores(&net, n, "old bridge"),
            "node {n} keeps the old text"
        );
        assert!(!stores(&net, n, "new bridge"), "node {n} keeps the edit");
    }
    // The reply stays, a message of its own.
    assert_eq!(message(&net, 0, 1, reply).text, "which bridge?");
    // Nothing is left to send.
    assert_eq!(net.nodes[0].engine.outbox_len(), 0);
    assert_eq!(net.nodes[1].engine.outbox_len(), 0);
}

#[test]
fn operations_hop_through_a_stranger_while_the_recipient_is_away() {
    // alice and carol know each other; bob, a stranger, carries.
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 2);
    let (ac, _) = net.connect(0, 2);
    let hello = net.send(0, 2, "the plan is at home");
    net.disconnect(ac);

    let (ab, _) = net.connect(0, 1);
    op(&mut net, 0, 2, OpKind::Edit, hello, "the plan is at school");
    op(&mut net, 0, 2, OpKind::React, hello, "🔥");
    net.disconnect(ab);
    assert!(
        net.nodes[1].engine.mesh_stats().carried >= 2,
        "bob carries both"
    );
    // Bob, the relay, can read none of it and keeps no message.
    assert!(net.nodes[1].engine.store().messages.is_empty());
    assert!(net.nodes[1].engine.contacts().next().is_none());

    net.advance(Duration::from_secs(600));
    net.connect(1, 2);
    let m = message(&net, 2, 0, hello);
    assert_eq!(m.text, "the plan is at school");
    assert_eq!(
        m.changes.shown_reactions().collect::<Vec<_>>(),
        vec![(Direction::Incoming, "🔥")]
    );
}

#[test]
fn the_other_side_cannot_edit_or_delete_what_you_wrote() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let hello = net.send(0, 1, "I wrote this");
    // Bob's node is hostile: it skips the checks a real client makes.
    let forged_edit = op(&mut net, 1, 0, OpKind::Edit, hello, "I never wrote this");
    let forged_delete = op(&mut net, 1, 0, OpKind::Delete, hello, "");
    let m = message(&net, 0, 1, hello);
    assert_eq!(m.text, "I wrote this");
    assert!(!m.changes.deleted && m.changes.edited_at.is_none());
    // Neither forged operation is kept at alice's…
    let kept: Vec<MessageId> = net.history(0, 1).iter().map(|m| m.id).collect();
    assert!(!kept.contains(&forged_edit) && !kept.contains(&forged_delete));
    // …and both were acknowledged, so bob's node does not send them for ever.
    assert_eq!(net.nodes[1].engine.outbox_len(), 0);
}

#[test]
fn a_stranger_s_operations_are_neither_kept_nor_a_contact_request() {
    let mut net = Net::new(&["alice", "bob", "mallory"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let hello = net.send(0, 1, "hello bob");
    // Mallory has alice's invite (alice does not know her) and learned the
    // message id somehow.
    net.add(2, 0);
    net.connect(2, 0);
    op(&mut net, 2, 0, OpKind::React, hello, "💩");
    op(&mut net, 2, 0, OpKind::Reply, hello, "spam");
    let m = message(&net, 0, 1, hello);
    assert_eq!(m.changes.shown_reactions().count(), 0);
    assert!(net.history(0, 2).is_empty(), "nothing of mallory's is kept");
    assert!(net.nodes[0].engine.contact(&net.key(2)).is_none());
}

#[test]
fn a_disappearing_timer_is_agreed_by_both_and_erases_both_stores() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let (alice, bob) = (net.key(0), net.key(1));
    let now = net.now;
    net.nodes[0].engine.set_disappearing(now, &bob, 60).unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    net.pump();
    assert_eq!(net.nodes[0].engine.disappearing(&bob), Some(60));
    assert_eq!(
        net.nodes[1].engine.disappearing(&alice),
        Some(60),
        "bob took it"
    );
    let early = net.send(0, 1, "gone in a minute");
    net.advance(Duration::from_secs(30));
    net.send(1, 0, "gone in another");
    op(&mut net, 1, 0, OpKind::React, early, "👍");
    net.advance(Duration::from_secs(31));
    for n in [0, 1] {
        let texts: Vec<String> = net.history(n, 1 - n).into_iter().map(|m| m.text).collect();
        assert_eq!(texts, vec!["gone in another"], "node {n}");
    }
    net.advance(Duration::from_secs(30));
    for n in [0, 1] {
        assert!(net.history(n, 1 - n).is_empty(), "node {n} keeps messages");
        assert!(net.nodes[n].events.contains(&Event::MessagesExpired {
            peer: net.key(1 - n)
        }));
    }
    // Bob turns it off; from then on messages stay.
    let now = net.now;
    net.nodes[1]
        .engine
        .set_disappearing(now, &alice, 0)
        .unwrap();
    net.nodes[1].engine.flush(now).unwrap();
    net.pump();
    assert_eq!(net.nodes[0].engine.disappearing(&bob), None);
    net.send(0, 1, "this one stays");
    net.advance(Duration::from_secs(3600));
    assert!(
        net.texts(1, 0, Direction::Incoming)
            .contains(&"this one stays".to_owned())
    );
    // A timer survives a restart, and what fell due meanwhile goes at once.
    let now = net.now;
    net.nodes[0].engine.set_disappearing(now, &bob, 5).unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    net.pump();
    net.restart(1);
    net.now = net.now + Duration::from_secs(10);
    net.advance(Duration::from_millis(1));
    assert!(
        net.history(1, 0).is_empty(),
        "bob's restart swept what fell due"
    );
}
