//! The BLE link core on a modelled radio: frames of every size through every
//! ATT MTU, under loss; bad packets never panic it; a peer that goes quiet or
//! leaves a gap open is given up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use cairn_transports::DownReason;
use cairn_transports::ble::arq::{Arq, MAX_ATT_MTU, MIN_ATT_MTU, REASSEMBLY_TIMEOUT, WINDOW};
use cairn_transports::ble::bus::{Pair, Radio};
use cairn_transports::ble::{BLE_FRAME_MTU, BleLink};
use std::sync::Arc;

use cairn_transports::hop::{HopKeys, Peer, Role};
use proptest::prelude::*;

/// A node's hop keys, derived from one byte.
fn key(b: u8) -> Arc<HopKeys> {
    HopKeys::new(&[b; 32], &[b.wrapping_add(100); 32])
}

/// Two nodes that are each other's contacts.
fn contacts() -> (Arc<HopKeys>, Arc<HopKeys>) {
    let (a, b) = (key(1), key(2));
    a.look_for(vec![b.static_key()]);
    b.look_for(vec![a.static_key()]);
    (a, b)
}

fn frame(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(13) ^ seed)
            .collect::<Vec<u8>>(),
    )
}

/// Sends `frames` both ways and runs until all arrived (or a minute of
/// virtual time passed).
fn exchange(radio: Radio, frames: &[Bytes]) -> Pair {
    let (a, b) = contacts();
    exchange_between(radio, frames, &a, &b)
}

fn exchange_between(radio: Radio, frames: &[Bytes], a: &Arc<HopKeys>, b: &Arc<HopKeys>) -> Pair {
    let mut pair = Pair::new(radio, a, b, BLE_FRAME_MTU).unwrap();
    for f in frames {
        pair.send(0, f.clone());
        pair.send(1, f.clone());
    }
    let n = frames.len();
    pair.run_until(Duration::from_secs(600), |p| {
        p.received[0].len() == n && p.received[1].len() == n
    })
    .unwrap();
    pair
}

#[test]
fn contacts_learn_each_others_identity() {
    let pair = exchange(Radio::new(185), &[frame(10, 1)]);
    assert_eq!(pair.up[0], Some(Peer::Known(key(2).identity())));
    assert_eq!(pair.up[1], Some(Peer::Known(key(1).identity())));
}

/// THREAT_MODEL "Attacks tried" 25: a device that is no contact connects
/// over the radio, either way round, and completes everything it can (the
/// handshake, frames both ways) — but learns no identity, and nothing it
/// saw on one link is on the next (the node's key and contacts unchanged,
/// only the link new, as after an advert rotation).
#[test]
fn a_stranger_on_the_radio_learns_no_identity_and_nothing_stable() {
    let (node, friend) = contacts();
    let stranger = key(9);
    stranger.look_for(vec![key(10).static_key()]);
    let frames = [frame(500, 7), frame(3_000, 8)];
    let mut seen = Vec::new();
    for round in 0..4 {
        let stranger_first = round % 2 == 0;
        let pair = if stranger_first {
            exchange_between(Radio::new(185), &frames, &stranger, &node)
        } else {
            exchange_between(Radio::new(185), &frames, &node, &stranger)
        };
        let (s, n) = if stranger_first { (0, 1) } else { (1, 0) };
        assert_eq!(pair.received[s], frames, "the stranger's link works");
        let Some(Peer::Stranger(sees)) = pair.up[s] else {
            panic!("the stranger learnt {:?}", pair.up[s]);
        };
        let Some(Peer::Stranger(_)) = pair.up[n] else {
            panic!("the node learnt who the stranger is");
        };
        for secret in [node.identity(), node.static_key(), friend.identity()] {
            assert_ne!(sees, secret);
        }
        seen.push(sees);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 4, "a pseudonym came back on another link");
    // The friend, on the same radio, still finds the node.
    let pair = exchange_between(Radio::new(185), &frames, &friend, &node);
    assert_eq!(pair.up[0], Some(Peer::Known(node.identity())));
}

#[test]
fn frames_round_trip_through_every_att_mtu_from_23_to_512() {
    let frames = [frame(0, 1), frame(1, 2), frame(300, 3), frame(2_000, 4)];
    for mtu in MIN_ATT_MTU..=512 {
        let pair = exchange(Radio::new(mtu), &frames);
        for side in 0..2 {
            assert_eq!(pair.received[side], frames, "mtu {mtu}, side {side}");
        }
        let most = pair.counters[0]
            .packet_bytes
            .max(pair.counters[1].packet_bytes);
        assert!(most > 0);
    }
}

#[test]
fn a_mebibyte_crosses_mtu_185_with_five_percent_loss_intact() {
    let mut radio = Radio::new(185);
    radio.loss = 0.05;
    radio.seed = 7;
    // 1 MiB each way, in frames of a file transfer's chunk size and smaller.
    let mut frames = Vec::new();
    let mut total = 0;
    let mut i = 0u8;
    while total < 1024 * 1024 {
        let len = [61_440, 1_000, 17, 9_000][usize::from(i % 4)];
        frames.push(frame(len, i));
        total += len;
        i = i.wrapping_add(1);
    }
    let pair = exchange(radio, &frames);
    for side in 0..2 {
        assert!(
            pair.received[side] == frames,
            "side {side} got everything in order"
        );
        assert!(pair.counters[side].lost > 0, "there was loss");
    }
}

#[test]
fn no_write_is_longer_than_bluez_takes_even_at_mtu_517() {
    let pair = exchange(Radio::new(517), &[frame(60_000, 1)]);
    assert_eq!(pair.counters[0].largest, 510);
    let pair = exchange(Radio::new(185), &[frame(60_000, 1)]);
    assert_eq!(pair.counters[0].largest, 182);
}

#[test]
fn a_frame_over_the_link_mtu_is_refused() {
    let mut pair = Pair::new(Radio::new(247), &key(1), &key(2), 1000).unwrap();
    pair.run_until(Duration::from_secs(5), |p| p.up[0].is_some())
        .unwrap();
    assert!(matches!(
        pair.ends[0].send_frame(&[0; 1001]),
        Err(DownReason::Violation(_))
    ));
}

#[test]
fn a_peer_that_goes_quiet_is_given_up() {
    let mut a = BleLink::new(Duration::ZERO, Role::Initiator, &key(1), 185, BLE_FRAME_MTU).unwrap();
    // Nobody answers the first handshake message: retries, then the end.
    let mut now = Duration::ZERO;
    let outcome = loop {
        match a.poll_transmit(now) {
            Err(reason) => break reason,
            Ok(Some(_)) => continue,
            Ok(None) => {}
        }
        if let Err(reason) = a.handle_timeout(now) {
            break reason;
        }
        now = a.poll_timeout().unwrap();
    };
    assert!(matches!(outcome, DownReason::Lost(_)), "{outcome}");
    assert!(
        now < Duration::from_secs(120),
        "given up within two minutes ({now:?})"
    );
}

#[test]
fn a_gap_left_open_ends_the_link_and_the_table_stays_bounded() {
    let mut arq = Arq::new(185);
    // Packets 1.. arrive, 0 never does.
    for seq in 1..WINDOW {
        let mut p = vec![0x01];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&0u16.to_be_bytes());
        p.extend_from_slice(&[9; 100]);
        arq.on_packet(Duration::ZERO, &p).unwrap();
    }
    assert_eq!(arq.held(), usize::from(WINDOW) - 1);
    // One beyond the window is refused rather than held.
    let mut p = vec![0x01];
    p.extend_from_slice(&WINDOW.to_be_bytes());
    p.extend_from_slice(&0u16.to_be_bytes());
    assert!(arq.on_packet(Duration::ZERO, &p).is_err());
    assert!(arq.read().is_empty(), "nothing delivered past the gap");
    assert!(
        arq.handle_timeout(REASSEMBLY_TIMEOUT - Duration::from_millis(1))
            .is_ok()
    );
    assert!(arq.handle_timeout(REASSEMBLY_TIMEOUT).is_err());
}

#[test]
fn an_ack_for_data_never_sent_is_a_violation() {
    let mut arq = Arq::new(185);
    let mut p = vec![0x02];
    p.extend_from_slice(&5u16.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    assert!(arq.on_packet(Duration::ZERO, &p).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any MTU, any frames, loss, duplicates of the seed: everything arrives,
    /// in order.
    #[test]
    fn frames_arrive_in_order_under_loss(
        mtu in MIN_ATT_MTU..=MAX_ATT_MTU,
        loss in 0.0f64..0.25,
        seed in any::<u64>(),
        lens in proptest::collection::vec(0usize..20_000, 1..8),
    ) {
        let mut radio = Radio::new(mtu);
        radio.loss = loss;
        radio.seed = seed;
        let frames: Vec<Bytes> = lens.iter().enumerate().map(|(i, l)| frame(*l, i as u8)).collect();
        let pair = exchange(radio, &frames);
        prop_assert!(pair.received[0] == frames);
        prop_assert!(pair.received[1] == frames);
    }

    /// Arbitrary packets never panic the core or make it hold more than its
    /// window; they are taken or refused.
    #[test]
    fn arbitrary_packets_never_panic(packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..64)) {
        let mut link = BleLink::new(Duration::ZERO, Role::Responder, &key(2), 247, BLE_FRAME_MTU).unwrap();
        let mut arq = Arq::new(247);
        for (i, p) in packets.iter().enumerate() {
            let now = Duration::from_millis(i as u64);
            let _ = link.on_packet(now, p);
            let _ = arq.on_packet(now, p);
            let _ = arq.poll_transmit(now);
            prop_assert!(arq.held() < usize::from(WINDOW));
        }
    }
}

#[test]
fn a_channel_times_frames_through_the_arq_and_never_loses_one() {
    use cairn_transports::ble::bus::Channel;
    let mut radio = Radio::new(247);
    radio.loss = 0.05;
    let mut ch = Channel::new(radio);
    let mut t = Duration::ZERO;
    for len in [300usize, 5_000, 61_459, 20] {
        let done = ch.send(t, len).expect("delivered");
        assert!(done > t, "it takes time");
        t = done + Duration::from_secs(30);
    }
    // A minute later, the radio has been idle: a small frame takes about a
    // one-way latency plus its writes.
    let done = ch.send(t, 100).unwrap();
    assert!(done - t < Duration::from_secs(1), "{:?}", done - t);
    assert!(ch.counters[0].lost > 0 || ch.counters[1].lost > 0);
}

/// KNOWN BUG, open (found by `frames_arrive_in_order_under_loss` in CI,
/// mtu 23, loss 0.226): at the smallest MTU with a fifth to a quarter of
/// packets lost, 1–2 exchanges in 300 end in "the hop handshake timed out"
/// with neither side up. The initiator keeps one packet in flight and
/// resends it (15 times in one case) while the responder counts the copies
/// as duplicates and acknowledges them (31 acks sent, 7 duplicates): an
/// acknowledgement the initiator never takes, not loss alone (seven lost
/// acks in a row at 25 % is 6e-5). Moving the handshake deadline on with
/// each message did not cure it. Run with
/// `cargo test --release -p cairn-transports --test ble -- --ignored`.
#[test]
#[ignore = "known bug in the BLE ARQ under heavy loss at the smallest MTU; see the comment"]
fn handshakes_at_the_smallest_mtu_under_heavy_loss_all_complete() {
    let mut failed = Vec::new();
    for s in 0..300u64 {
        let mut radio = Radio::new(MIN_ATT_MTU);
        radio.loss = 0.2 + (s % 50) as f64 / 1000.0;
        radio.seed = s.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let frames: Vec<Bytes> = [300usize, 5_000, 20_000]
            .iter()
            .enumerate()
            .map(|(i, l)| frame(*l, i as u8))
            .collect();
        let (a, b) = contacts();
        let mut pair = Pair::new(radio, &a, &b, BLE_FRAME_MTU).unwrap();
        for f in &frames {
            pair.send(0, f.clone());
            pair.send(1, f.clone());
        }
        let n = frames.len();
        if let Err(e) = pair.run_until(Duration::from_secs(600), |p| {
            p.received[0].len() == n && p.received[1].len() == n
        }) {
            failed.push(format!(
                "case {s}: {e:?}; a [{}]; b [{}]",
                pair.ends[0].describe(),
                pair.ends[1].describe()
            ));
        }
    }
    assert!(failed.is_empty(), "{} of 300: {failed:?}", failed.len());
}
