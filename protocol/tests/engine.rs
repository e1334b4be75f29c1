//! Scenario tests of the protocol core, driven on a virtual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use cairn_protocol::{CloseReason, ContactOrigin, DeliveryState, Direction, Event, LinkId, Medium};
use harness::Net;

fn texts(net: &Net, n: usize, peer: usize, dir: Direction) -> Vec<String> {
    net.texts(n, peer, dir)
}

fn state_of(net: &Net, n: usize, peer: usize, text: &str) -> DeliveryState {
    net.history(n, peer)
        .into_iter()
        .find(|m| m.text == text)
        .map(|m| m.state)
        .unwrap()
}

#[test]
fn message_over_a_link_is_stored_and_acknowledged() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    net.send(0, 1, "hello bob");
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["hello bob"]);
    assert_eq!(state_of(&net, 0, 1, "hello bob"), DeliveryState::Delivered);
    net.send(1, 0, "hi alice");
    assert_eq!(texts(&net, 0, 1, Direction::Incoming), vec!["hi alice"]);
    assert_eq!(net.nodes[0].engine.outbox_len(), 0);
}

#[test]
fn message_queued_without_a_link_goes_out_when_one_comes_up() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.send(0, 1, "are you there?");
    assert_eq!(
        state_of(&net, 0, 1, "are you there?"),
        DeliveryState::Queued
    );
    net.connect(0, 1);
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["are you there?"]
    );
    assert_eq!(
        state_of(&net, 0, 1, "are you there?"),
        DeliveryState::Delivered
    );
}

#[test]
fn a_stranger_who_has_our_invite_becomes_a_contact_request() {
    let mut net = Net::new(&["alice", "bob"]);
    net.add(0, 1); // only alice knows bob
    net.connect(0, 1);
    net.send(0, 1, "it's alice");
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["it's alice"]);
    let contact = net.nodes[1].engine.contact(&net.key(0)).unwrap();
    assert_eq!(contact.origin, ContactOrigin::Request);
    assert_eq!(contact.display_name(), "alice");
    // Bob can answer at once, over the session alice started.
    net.send(1, 0, "hi");
    assert_eq!(texts(&net, 0, 1, Direction::Incoming), vec!["hi"]);
}

#[test]
fn restarted_receiver_gets_what_was_sent_while_it_was_down() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    net.send(0, 1, "before");
    net.restart(1);
    net.send(0, 1, "while down");
    net.connect(0, 1);
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["before", "while down"]
    );
    assert_eq!(state_of(&net, 0, 1, "while down"), DeliveryState::Delivered);
}

#[test]
fn restarted_sender_resends_unacknowledged_messages_once() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.send(0, 1, "queued before crash");
    net.restart(0);
    net.connect(0, 1);
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["queued before crash"]
    );
    assert_eq!(
        state_of(&net, 0, 1, "queued before crash"),
        DeliveryState::Delivered
    );
}

#[test]
fn peer_that_forgot_the_session_gets_a_new_one_and_traffic_resumes() {
    // Bob restarts while the link stays up from alice's point of view: her
    // next message names a session bob no longer has.
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (la, _) = net.connect(0, 1);
    net.send(0, 1, "one");
    net.restart(1);
    let _ = la;
    net.connect(0, 1);
    net.send(0, 1, "two");
    net.advance(Duration::from_secs(60));
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["one", "two"]);
}

#[test]
fn duplicate_delivery_is_stored_once_and_acknowledged_again() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    net.send(0, 1, "only once");
    // Lose alice's memory that it was acknowledged: it will send it again.
    net.restart(0);
    let id = net.history(0, 1)[0].id;
    net.connect(0, 1);
    let stored = net.history(1, 0).into_iter().filter(|m| m.id == id).count();
    assert_eq!(stored, 1);
    assert_eq!(state_of(&net, 0, 1, "only once"), DeliveryState::Delivered);
}

#[test]
fn garbage_frame_closes_the_link_and_others_keep_working() {
    let mut net = Net::new(&["alice", "bob", "mallory"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let (lm, _) = net.connect(2, 0);
    net.inject(lm, vec![1, 99, 0, 0]);
    assert_eq!(net.nodes[0].closed.len(), 1);
    assert_eq!(net.nodes[0].closed[0].1, CloseReason::Malformed);
    net.send(0, 1, "still fine");
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["still fine"]);
}

#[test]
fn replayed_frame_closes_the_link() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (la, _) = net.connect(0, 1);
    net.send(0, 1, "original");
    // The last data frame alice sent on her link, sent again.
    let replay = net
        .wire_log
        .iter()
        .rev()
        .find(|(l, f)| *l == la && f.len() > 256)
        .unwrap()
        .1
        .clone();
    net.inject(la, replay);
    assert_eq!(net.nodes[1].closed[0].1, CloseReason::Replay);
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["original"]);
}

#[test]
fn tampered_ciphertext_closes_the_link() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (la, _) = net.connect(0, 1);
    net.send(0, 1, "x");
    let mut frame = net
        .wire_log
        .iter()
        .rev()
        .find(|(l, f)| *l == la && f.len() > 256)
        .unwrap()
        .1
        .clone();
    // Make the nonce fresh so it is not a replay, and the tag cannot match.
    frame[19] ^= 0x40;
    net.inject(la, frame);
    assert_eq!(net.nodes[1].closed[0].1, CloseReason::BadCrypto);
}

#[test]
fn handshake_flood_from_one_link_is_cut_off() {
    let mut net = Net::new(&["alice", "bob"]);
    let (la, _) = net.connect(0, 1);
    let init = {
        net.add(0, 1);
        net.send(0, 1, "hi");
        net.wire_log
            .iter()
            .find(|(l, f)| {
                *l == la
                    && matches!(
                        cairn_protocol::frame::Frame::decode(f),
                        Ok(cairn_protocol::frame::Frame::Envelope(
                            cairn_protocol::envelope::Envelope::Init { .. }
                        ))
                    )
            })
            .unwrap()
            .1
            .clone()
    };
    for _ in 0..40 {
        if net.nodes[1].closed.is_empty() {
            net.inject(la, init.clone());
        }
    }
    assert!(
        net.nodes[1]
            .closed
            .iter()
            .any(|(_, r)| matches!(r, CloseReason::Replay | CloseReason::Flooding))
    );
}

#[test]
fn failed_commit_sends_nothing_and_reports_the_error() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let bob = net.key(1);
    let now = net.now;
    net.nodes[0].engine.store_mut().fail_next_commit = true;
    net.nodes[0].engine.send_text(now, &bob, "doomed").unwrap();
    assert!(net.nodes[0].engine.flush(now).is_err());
    net.pump();
    assert!(texts(&net, 1, 0, Direction::Incoming).is_empty());
    assert_eq!(net.nodes[0].engine.outbox_len(), 0);
    net.send(0, 1, "next");
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["next"]);
}

#[test]
fn receiver_that_cannot_commit_does_not_acknowledge() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    net.send(0, 1, "warm up");
    net.nodes[1].engine.store_mut().fail_next_commit = true;
    let bob_key = net.nodes[1].engine.identity_key();
    let now = net.now;
    let alice = &mut net.nodes[0].engine;
    alice.send_text(now, &bob_key, "retry me").unwrap();
    alice.flush(now).unwrap();
    // Bob's flush fails inside pump; harness unwraps, so drive by hand.
    let mut frames = vec![];
    while let Some(o) = net.nodes[0].engine.poll_output() {
        if let cairn_protocol::Output::Transmit { frame, .. } = o {
            frames.push(frame);
        }
    }
    let bob_link = net.nodes[1].engine.links().next().unwrap().id;
    for f in frames {
        net.nodes[1].engine.handle_frame(now, bob_link, &f);
    }
    assert!(net.nodes[1].engine.flush(now).is_err());
    let receipts = std::iter::from_fn(|| net.nodes[1].engine.poll_output())
        .filter(|o| matches!(o, cairn_protocol::Output::Transmit { .. }))
        .count();
    assert_eq!(receipts, 0, "no receipt for a message that is not stored");
    net.nodes[0].engine.flush(now).unwrap();
    assert_eq!(state_of(&net, 0, 1, "retry me"), DeliveryState::Sent);
    // The retransmission timer brings it through once bob's store works again.
    net.advance(Duration::from_secs(10));
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["warm up", "retry me"]
    );
    assert_eq!(state_of(&net, 0, 1, "retry me"), DeliveryState::Delivered);
}

#[test]
fn sessions_rekey_after_the_message_limit_and_keep_delivering() {
    let mut net = Net::with_config(&["alice", "bob"], |name| {
        let mut c = cairn_protocol::Config::new(name);
        c.sessions.rekey_after_messages = 5;
        c
    });
    net.befriend(0, 1);
    net.connect(0, 1);
    for i in 0..20 {
        net.send(0, 1, &format!("m{i}"));
    }
    let ups = net.nodes[0]
        .events
        .iter()
        .filter(|e| matches!(e, Event::SessionUp { .. }))
        .count();
    assert!(ups >= 3, "expected several sessions, saw {ups}");
    assert_eq!(texts(&net, 1, 0, Direction::Incoming).len(), 20);
    assert!(net.nodes[1].engine.session_count() <= 4);
}

#[test]
fn sessions_rekey_after_the_time_limit() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    net.send(0, 1, "early");
    net.advance(Duration::from_secs(2 * 3600));
    net.send(0, 1, "late");
    let ups = net.nodes[0]
        .events
        .iter()
        .filter(|e| matches!(e, Event::SessionUp { .. }))
        .count();
    assert_eq!(ups, 2);
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["early", "late"]
    );
}

#[test]
fn both_sides_starting_at_once_still_converge() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (a, b) = (net.key(0), net.key(1));
    let now = net.now;
    net.nodes[0].engine.send_text(now, &b, "from a").unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    net.nodes[1].engine.send_text(now, &a, "from b").unwrap();
    net.nodes[1].engine.flush(now).unwrap();
    net.connect(0, 1);
    net.advance(Duration::from_secs(30));
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["from a"]);
    assert_eq!(texts(&net, 0, 1, Direction::Incoming), vec!["from b"]);
}

#[test]
fn a_key_change_is_reported_never_silent() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let bob = net.key(1);
    net.nodes[0].engine.set_verified(&bob, true).unwrap();
    net.nodes[0].engine.flush(net.now).unwrap();
    // Re-adding the same card changes nothing.
    net.add(0, 1);
    assert!(
        !net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::ContactKeyChanged { .. }))
    );
    assert!(net.nodes[0].engine.contact(&bob).unwrap().verified);
    // Bob's identity now vouches for a different static key.
    let mut secret = *harness::identity(2).to_secret_bytes();
    secret[40] ^= 1;
    let rebound = cairn_protocol::Identity::from_secret_bytes(&secret);
    assert_eq!(rebound.key(), bob);
    let card = cairn_protocol::ContactCard::new(
        &rebound,
        "bob",
        vec![],
        net.now,
        Duration::from_secs(3600),
    )
    .unwrap();
    net.nodes[0]
        .engine
        .add_contact(net.now, card, None)
        .unwrap();
    net.nodes[0].engine.flush(net.now).unwrap();
    net.pump();
    assert!(
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::ContactKeyChanged { peer } if *peer == bob))
    );
    let contact = net.nodes[0].engine.contact(&bob).unwrap();
    assert!(contact.key_changed);
    assert!(!contact.verified, "a changed key is no longer verified");
}

#[test]
fn links_prefer_the_cheapest_medium() {
    assert!(Medium::Lan < Medium::Ble && Medium::Ble < Medium::Tor);
}

#[test]
fn the_longest_text_goes_through() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let long = "x".repeat(cairn_protocol::payload::MAX_TEXT_LEN);
    net.send(0, 1, &long);
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec![long.clone()]);
    assert_eq!(state_of(&net, 0, 1, &long), DeliveryState::Delivered);
}

#[test]
fn a_batch_committed_elsewhere_releases_its_sends_only_when_reported() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    net.send(0, 1, "warm up");
    let (bob, now) = (net.key(1), net.now);
    let alice = &mut net.nodes[0].engine;
    alice.send_text(now, &bob, "pipelined").unwrap();
    let commit = alice.begin_commit().unwrap();
    assert!(alice.commit_in_flight());
    assert!(
        std::iter::from_fn(|| alice.poll_output())
            .all(|o| !matches!(o, cairn_protocol::Output::Transmit { .. })),
        "nothing may be sent before its batch is durable"
    );
    // The driver commits on its own and reports back.
    cairn_protocol::Store::commit(alice.store_mut(), &commit.batch).unwrap();
    alice.end_commit(now, commit.ticket, Ok(())).unwrap();
    assert!(!alice.commit_in_flight());
    net.pump();
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["warm up", "pipelined"]
    );
}

#[test]
fn a_duplicate_arriving_while_the_original_commits_is_stored_once() {
    use cairn_protocol::{Output, Store};
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (la, lb) = net.connect(0, 1);
    net.send(0, 1, "warm up");
    let (bob, now) = (net.key(1), net.now);
    let data_frames =
        |engine: &mut cairn_protocol::Engine<cairn_protocol::MemoryStore>| -> Vec<Vec<u8>> {
            std::iter::from_fn(|| engine.poll_output())
                .filter_map(|o| match o {
                    Output::Transmit { link, frame } if link == la => Some(frame),
                    _ => None,
                })
                .collect()
        };
    net.nodes[0].engine.send_text(now, &bob, "twice").unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    let first = data_frames(&mut net.nodes[0].engine);
    // Alice's retransmission timer fires before any receipt: same message,
    // new nonce.
    let later = now + Duration::from_secs(10);
    net.nodes[0].engine.handle_timeout(later);
    net.nodes[0].engine.flush(later).unwrap();
    let again = data_frames(&mut net.nodes[0].engine);
    assert!(!first.is_empty() && !again.is_empty());

    let b = &mut net.nodes[1].engine;
    for f in &first {
        b.handle_frame(later, lb, f);
    }
    let commit = b.begin_commit().unwrap();
    for f in &again {
        b.handle_frame(later, lb, f);
    }
    let second = b.begin_commit().unwrap();
    assert!(
        second
            .batch
            .ops
            .iter()
            .all(|op| !matches!(op, cairn_protocol::StoreOp::PutMessage(_))),
        "the duplicate was staged again"
    );
    b.store_mut().commit(&commit.batch).unwrap();
    b.end_commit(later, commit.ticket, Ok(())).unwrap();
    b.store_mut().commit(&second.batch).unwrap();
    b.end_commit(later, second.ticket, Ok(())).unwrap();
    net.pump();
    let stored = net
        .history(1, 0)
        .iter()
        .filter(|m| m.text == "twice")
        .count();
    assert_eq!(stored, 1);
    assert_eq!(state_of(&net, 0, 1, "twice"), DeliveryState::Delivered);
}

#[test]
fn a_new_link_is_preferred_and_resends_what_a_dead_one_swallowed() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (stale_a, _) = net.connect(0, 1);
    net.send(0, 1, "first");
    // The old link dies silently: frames put on it vanish, nobody is told.
    net.blackhole(stale_a);
    net.send(0, 1, "into the void");
    assert_eq!(texts(&net, 1, 0, Direction::Incoming), vec!["first"]);
    // A fresh link comes up beside it; the stale one is still listed.
    net.connect(0, 1);
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["first", "into the void"]
    );
    net.send(0, 1, "after");
    assert_eq!(
        texts(&net, 1, 0, Direction::Incoming),
        vec!["first", "into the void", "after"]
    );
}

#[test]
fn a_peer_gone_with_messages_in_flight_does_not_keep_the_engine_awake() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (la, _) = net.connect(0, 1);
    net.send(0, 1, "first");
    net.blackhole(la);
    net.send(0, 1, "lost in flight");
    net.disconnect(la);
    // Past every retransmission deadline the engine had: after handling the
    // timeout, its next wake-up must lie in the future.
    let later = net.now + Duration::from_secs(600);
    net.nodes[0].engine.handle_timeout(later);
    let next = net.nodes[0].engine.poll_timeout().unwrap();
    assert!(next > later, "wakes at {next}, not after {later}");
}

#[test]
fn a_full_link_table_makes_room_for_a_contact_by_closing_a_stranger_s_link() {
    let mut net = Net::with_config(&["alice", "bob", "s1", "s2", "s3", "s4"], |n| {
        let mut c = cairn_protocol::Config::new(n);
        c.max_links = 3;
        c
    });
    net.befriend(0, 1);
    // Three strangers fill alice's links.
    let strangers: Vec<LinkId> = (2..=4).map(|s| net.connect(0, s).0).collect();
    // A fourth stranger finds no room.
    let (refused, _) = net.connect(0, 5);
    assert_eq!(
        net.nodes[0].closed.last(),
        Some(&(refused, CloseReason::TooManyLinks))
    );
    // Bob, a contact, gets in: the oldest stranger's link makes room.
    let (bob_link, _) = net.connect(0, 1);
    assert_eq!(
        net.nodes[0].closed.last(),
        Some(&(strangers[0], CloseReason::TooManyLinks))
    );
    assert!(
        !net.nodes[0].closed.iter().any(|(l, _)| *l == bob_link),
        "bob's link was closed"
    );
    net.send(1, 0, "room for a friend");
    assert_eq!(
        texts(&net, 0, 1, Direction::Incoming),
        vec!["room for a friend".to_owned()]
    );
}
