//! Files through the core: offered like a text, pulled by the receiver in
//! chunks, checked against the offer's hash, resumed after a broken link or a
//! restart, and small ones carried whole by strangers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use cairn_protocol::file::{CHUNK_LEN, MAX_ATTEMPTS, TransferState};
use cairn_protocol::{DeliveryState, Direction, Event, MessageId, Store};
use harness::Net;

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

/// Offers a file and commits it, without delivering anything yet.
fn offer_file(
    net: &mut Net,
    from: usize,
    to: usize,
    name: &str,
    mime: &str,
    data: &[u8],
) -> MessageId {
    let peer = net.key(to);
    let now = net.now;
    let id = net.nodes[from]
        .engine
        .send_file(now, &peer, name, mime, data)
        .unwrap();
    net.nodes[from].engine.flush(now).unwrap();
    id
}

fn send_file(net: &mut Net, from: usize, to: usize, name: &str, data: &[u8]) -> MessageId {
    let id = offer_file(net, from, to, name, "application/octet-stream", data);
    net.pump();
    id
}

fn received_file(net: &Net, n: usize, from: usize, id: &MessageId) -> Option<Vec<u8>> {
    net.nodes[n].engine.file_data(&net.key(from), id).unwrap()
}

/// Chunks the receiver held, as its progress events said, in order.
fn progress(net: &Net, n: usize) -> Vec<u32> {
    net.nodes[n]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::FileProgress(r) if !r.outgoing => Some(r.have),
            _ => None,
        })
        .collect()
}

#[test]
fn a_file_arrives_whole_checked_and_both_sides_see_it_complete() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let data = content(3 * CHUNK_LEN + 12_345, 1);
    let id = send_file(&mut net, 0, 1, "photos/beach.jpg", &data);

    assert!(
        received_file(&net, 1, 0, &id) == Some(data.clone()),
        "the file arrived intact"
    );
    let offer = net.history(1, 0).into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(offer.direction, Direction::Incoming);
    assert_eq!(
        offer.text, "beach.jpg",
        "only the name travels, not the path"
    );
    assert_eq!(offer.file.unwrap().size, data.len() as u64);
    let theirs = net.nodes[1].engine.file(&net.key(0), &id).unwrap();
    assert_eq!(theirs.state, TransferState::Complete);
    // The sender learns the receiver has it all.
    let ours = net.nodes[0].engine.file(&net.key(1), &id).unwrap();
    assert_eq!((ours.state, ours.have), (TransferState::Complete, 4));
    let sent = net.history(0, 1).into_iter().find(|m| m.id == id).unwrap();
    assert_eq!(sent.state, DeliveryState::Delivered);
    assert_eq!(progress(&net, 1), [1, 2, 3, 4], "progress, chunk by chunk");
}

#[test]
fn a_broken_link_loses_at_most_the_window_in_flight() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (link, _) = net.connect(0, 1);
    let data = content(40 * CHUNK_LEN + 7, 2);
    let id = offer_file(&mut net, 0, 1, "big.bin", "", &data);
    let _ = net.pump_some(40);
    net.disconnect(link);
    let held = *progress(&net, 1).last().unwrap();
    assert!(held > 0 && held < 41, "broken off mid-way ({held} chunks)");
    assert!(received_file(&net, 1, 0, &id).is_none());

    net.advance(Duration::from_secs(5));
    net.connect(0, 1);
    assert!(
        received_file(&net, 1, 0, &id) == Some(data.clone()),
        "the file arrived intact"
    );
    let after: Vec<u32> = progress(&net, 1)
        .into_iter()
        .skip_while(|h| *h != held)
        .skip(1)
        .collect();
    assert_eq!(after.first(), Some(&(held + 1)), "resumed where it stopped");
}

#[test]
fn a_lost_last_word_from_the_receiver_is_asked_for_by_the_sender() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let data = content(2 * CHUNK_LEN + 3, 4);
    let id = offer_file(&mut net, 0, 1, "notes.txt", "", &data);
    // Frame by frame until bob has it all; his "all here" is then lost.
    let done = |net: &Net| {
        net.nodes[1]
            .engine
            .file(&net.key(0), &id)
            .is_some_and(|r| r.state == TransferState::Complete)
    };
    while !done(&net) {
        assert!(!net.pump_some(1), "the transfer stalled");
    }
    assert!(net.lose_in_flight() > 0, "bob's last word was on the wire");
    net.pump();
    let ours = |net: &Net| net.nodes[0].engine.file(&net.key(1), &id).unwrap().state;
    assert_eq!(ours(&net), TransferState::Going, "alice did not hear it");

    net.advance(Duration::from_secs(90));
    assert_eq!(
        ours(&net),
        TransferState::Complete,
        "alice asked where bob stands and learnt he has it all"
    );
}

#[test]
fn a_receiver_restarted_mid_transfer_resumes_from_its_store() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let data = content(30 * CHUNK_LEN, 3);
    let id = offer_file(&mut net, 0, 1, "notes.pdf", "application/pdf", &data);
    let _ = net.pump_some(30);
    let held = net.nodes[1].engine.file(&net.key(0), &id).unwrap().have;
    assert!(held > 0 && held < 30, "{held}");
    net.restart(1);
    net.advance(Duration::from_secs(1));
    assert_eq!(
        net.nodes[1].engine.file(&net.key(0), &id).unwrap().have,
        held,
        "what was stored is kept"
    );
    net.connect(0, 1);
    assert!(
        received_file(&net, 1, 0, &id) == Some(data.clone()),
        "the file arrived intact"
    );
    assert!(progress(&net, 1).iter().all(|h| *h > held));
}

#[test]
fn a_sender_restarted_mid_transfer_goes_on_sending() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    net.connect(0, 1);
    let data = content(25 * CHUNK_LEN + 1, 4);
    let id = offer_file(&mut net, 0, 1, "song.ogg", "audio/ogg", &data);
    let _ = net.pump_some(20);
    net.restart(0);
    // (A restarted node's handshake must be newer than its last one.)
    net.advance(Duration::from_secs(1));
    net.connect(0, 1);
    assert!(
        received_file(&net, 1, 0, &id) == Some(data.clone()),
        "the file arrived intact"
    );
    assert_eq!(
        net.nodes[0].engine.file(&net.key(1), &id).unwrap().state,
        TransferState::Complete
    );
}

#[test]
fn content_that_does_not_match_its_hash_is_fetched_again_then_given_up() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let data = content(2 * CHUNK_LEN + 5, 5);
    let id = offer_file(&mut net, 0, 1, "x.bin", "", &data);
    // Alice's stored copy is damaged before anything is sent.
    let peer = net.key(1);
    let store = net.nodes[0].engine.store_mut();
    let chunk = store.chunks.get_mut(&(peer, id, 1)).unwrap();
    chunk[10] ^= 0xff;
    net.connect(0, 1);
    let ours = net.nodes[1].engine.file(&net.key(0), &id).unwrap();
    assert_eq!(ours.state, TransferState::Failed);
    assert!(received_file(&net, 1, 0, &id).is_none());
    let completions = net.nodes[1]
        .events
        .iter()
        .filter(|e| matches!(e, Event::FileProgress(r) if r.state == TransferState::Complete))
        .count();
    assert_eq!(completions, 0, "never shown complete");
    assert_eq!(
        progress(&net, 1).iter().filter(|h| **h == 1).count(),
        usize::from(MAX_ATTEMPTS),
        "fetched {MAX_ATTEMPTS} times"
    );
}

#[test]
fn a_small_file_travels_whole_through_a_stranger_who_cannot_read_it() {
    // alice — carol — bob: alice and bob know each other, carol knows nobody.
    let mut net = Net::new(&["alice", "carol", "bob"]);
    net.befriend(0, 2);
    let (ac, _) = net.connect(0, 1);
    let data = content(5_000, 6);
    let id = send_file(&mut net, 0, 2, "map.png", &data);
    net.disconnect(ac);
    assert!(
        net.nodes[1].engine.mesh_stats().carried >= 1,
        "carol carries it"
    );
    net.connect(1, 2);
    assert!(
        received_file(&net, 2, 0, &id) == Some(data.clone()),
        "the file arrived intact"
    );
    assert!(net.nodes[1].engine.contacts().next().is_none());
    assert!(
        net.nodes[1].engine.store().files().unwrap().is_empty(),
        "carol stores no file"
    );
}

#[test]
fn a_large_file_does_not_go_through_the_mesh() {
    let mut net = Net::new(&["alice", "carol", "bob"]);
    net.befriend(0, 2);
    net.connect(0, 1);
    let data = content(2 * CHUNK_LEN, 7);
    let id = send_file(&mut net, 0, 2, "video.mp4", &data);
    // Carol carries the offer (a few hundred bytes), not the content.
    let stats = net.nodes[1].engine.mesh_stats();
    assert_eq!(stats.carried, 1);
    assert!(
        stats.relayed_bytes < 20_000,
        "{} bytes",
        stats.relayed_bytes
    );
    // Bob comes in reach of alice: the offer and then the content arrive.
    net.connect(0, 2);
    net.advance(Duration::from_secs(60));
    assert!(
        received_file(&net, 2, 0, &id) == Some(data.clone()),
        "the file arrived intact"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Whatever the size and wherever the link breaks, and however often,
    /// the file arrives intact once a link stays up.
    #[test]
    fn any_file_survives_any_pattern_of_broken_links(
        len in 0usize..(6 * CHUNK_LEN),
        breaks in proptest::collection::vec((1usize..30, proptest::bool::ANY), 0..6),
    ) {
        let mut net = Net::new(&["alice", "bob"]);
        net.befriend(0, 1);
        let data = content(len, len as u8);
        let id = offer_file(&mut net, 0, 1, "f.bin", "", &data);
        for (frames, restart_bob) in breaks {
            let (link, _) = net.connect(0, 1);
            let _ = net.pump_some(frames);
            net.disconnect(link);
            if restart_bob {
                net.restart(1);
            }
            net.advance(Duration::from_secs(2));
        }
        net.connect(0, 1);
        net.advance(Duration::from_secs(60));
        proptest::prop_assert!(received_file(&net, 1, 0, &id) == Some(data.clone()), "intact");
    }
}

/// THREAT_MODEL.md "Attacks tried" 5: a stranger who writes first is a
/// request; what it offers is shown but not downloaded until the user
/// accepts it (adds its invite), then it is fetched whole.
#[test]
fn a_request_s_file_is_fetched_only_once_the_user_accepts_it() {
    let mut net = Net::new(&["mallory", "bob"]);
    net.add(0, 1); // only mallory knows bob
    net.connect(0, 1);
    let data = content(5 * CHUNK_LEN + 7, 3);
    let id = send_file(&mut net, 0, 1, "big.bin", &data);
    net.advance(Duration::from_secs(120));
    let record = net.nodes[1].engine.file(&net.key(0), &id).unwrap();
    assert_eq!(record.have, 0, "nothing fetched from a request");
    assert_eq!(record.state, TransferState::Going);
    assert!(progress(&net, 1).is_empty());
    net.add(1, 0); // bob accepts
    net.advance(Duration::from_secs(30));
    assert_eq!(received_file(&net, 1, 0, &id), Some(data));
}

#[test]
fn a_file_deleted_mid_transfer_stops_and_leaves_no_chunk_at_either_end() {
    let mut net = Net::new(&["alice", "bob"]);
    net.befriend(0, 1);
    let (link, _) = net.connect(0, 1);
    let data = content(40 * CHUNK_LEN + 7, 3);
    let id = offer_file(&mut net, 0, 1, "plans.bin", "", &data);
    let _ = net.pump_some(40);
    net.disconnect(link);
    assert!(!progress(&net, 1).is_empty(), "bob holds part of it");

    // Alice deletes it; bob hears so when they meet again.
    let (bob, now) = (net.key(1), net.now);
    net.nodes[0]
        .engine
        .send_op(
            now,
            &bob,
            None,
            cairn_protocol::message::OpKind::Delete,
            id,
            "",
        )
        .unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    let fetched = progress(&net, 1).len();
    net.advance(Duration::from_secs(5));
    net.connect(0, 1);
    net.advance(Duration::from_secs(120));
    let alice = net.key(0);
    for (n, peer) in [(0, bob), (1, alice)] {
        let store = net.nodes[n].engine.store();
        assert!(store.chunks.is_empty(), "node {n} keeps chunks");
        assert!(store.files.is_empty(), "node {n} keeps the transfer");
        let m = net
            .history(n, 1 - n)
            .into_iter()
            .find(|m| m.id == id)
            .unwrap();
        assert!(m.changes.deleted && m.text.is_empty());
        assert!(net.nodes[n].engine.file(&peer, &id).is_none());
    }
    // At most the window that was in flight arrived after the deletion.
    assert!(progress(&net, 1).len() <= fetched + 1);
}
