//! Multi-device benchmarks (docs/PERFORMANCE.md, "Several devices"):
//!
//! 1. Linking a device to a profile with 10 000 messages of history: time
//!    from the new device's first frame to its holding the whole history,
//!    and the bytes that crossed the link.
//! 2. Fan-out: bob writes to alice, who has 1, 2 or 5 devices, all in
//!    session: bob's CPU per message (sealing one copy per device and
//!    handling one receipt per device) and bytes sent per message.
//!
//! Everything runs in memory on real engines (the protocol's scenario
//! harness): crypto, payloads, outbox and receipts, no network or disk.
//! `cargo bench -p cairn-protocol --bench devices [-- HISTORY MESSAGES]`

#![allow(clippy::unwrap_used, clippy::expect_used)]
// A benchmark measures the wall clock; the protocol itself never reads it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::{Duration, Instant};

use cairn_protocol::store::{Store, StoreOp, WriteBatch};
use cairn_protocol::{DeliveryState, Direction, MessageId, MessageRecord};
use harness::Net;

fn wire_bytes(net: &Net) -> usize {
    net.wire_log.iter().map(|(_, f)| f.len()).sum()
}

/// 1. Linking with `history` messages of history.
fn link_with_history(history: usize) {
    let mut net = Net::new(&["alice", "alice", "bob"]);
    net.befriend(0, 2);
    let bob = net.key(2);
    // The laptop's past, written straight into its store.
    let mut batch = WriteBatch::default();
    for i in 0..history {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let incoming = i % 2 == 0;
        batch.push(StoreOp::PutMessage(Box::new(MessageRecord {
            peer: bob,
            id: MessageId(id),
            direction: if incoming {
                Direction::Incoming
            } else {
                Direction::Outgoing
            },
            text: format!("message {i}: a line of ordinary chat, about this long"),
            sent_at: net.now,
            local_at: net.now,
            state: if incoming {
                DeliveryState::Read
            } else {
                DeliveryState::Delivered
            },
            remote: None,
            file: None,
            op: None,
            changes: Default::default(),
        })));
    }
    net.nodes[0].engine.store_mut().commit(&batch).unwrap();
    let text_bytes: usize = net.history(0, 2).iter().map(|m| m.text.len()).sum();
    let before = wire_bytes(&net);
    let start = Instant::now();
    net.link_device(0, 1, "phone", false);
    let past = net.history(0, 2);
    let phone = net.key(1);
    let now = net.now;
    let queued = net.nodes[0].engine.hand_history(now, &phone, past);
    assert_eq!(queued, history);
    net.nodes[0].engine.flush(now).unwrap();
    net.pump();
    // The window of messages in flight is clocked by receipts; timers are
    // not needed on a link that loses nothing.
    let took = start.elapsed();
    assert_eq!(net.history(1, 2).len(), history, "the phone holds it all");
    let bytes = wire_bytes(&net) - before;
    println!(
        "link with {history} messages of history: {:.3} s, {} bytes on the link \
         ({:.2}x the text's {} bytes), {:.0} messages/s",
        took.as_secs_f64(),
        bytes,
        bytes as f64 / text_bytes as f64,
        text_bytes,
        history as f64 / took.as_secs_f64()
    );
}

/// Alice with `devices` devices (the first holds the account), bob in
/// session with each; bob is the last node.
fn alice_with_devices(devices: usize) -> (Net, usize) {
    let mut names = vec!["alice"; devices];
    names.push("bob");
    let bob_n = devices;
    let mut net = Net::new(&names);
    net.befriend(0, bob_n);
    net.connect(0, bob_n);
    net.send(bob_n, 0, "hello");
    for d in 1..devices {
        net.link_device(0, d, &format!("device {d}"), false);
        net.connect(d, bob_n);
    }
    (net, bob_n)
}

/// 2. Fan-out to `devices` devices of alice's.
fn fan_out(devices: usize, messages: usize) {
    let (mut net, bob_n) = alice_with_devices(devices);
    // Every device of alice's is a destination of bob's now.
    net.send(bob_n, 0, "warm up");
    for d in 0..devices {
        assert!(
            net.history(d, bob_n).iter().any(|m| m.text == "warm up"),
            "device {d}"
        );
    }
    let alice = net.key(0);
    let before = wire_bytes(&net);
    let mut bob_cpu = Duration::ZERO;
    for i in 0..messages {
        let now = net.now;
        let t = Instant::now();
        net.nodes[bob_n]
            .engine
            .send_text(now, &alice, &format!("message {i}"))
            .unwrap();
        net.nodes[bob_n].engine.flush(now).unwrap();
        bob_cpu += t.elapsed();
        net.pump();
    }
    let bytes = wire_bytes(&net) - before;
    assert_eq!(net.nodes[bob_n].engine.outbox_len(), 0);
    println!(
        "fan-out to {devices} device(s): bob's send (sealing a copy per device) {:.1} µs/message, \
         {:.0} bytes on the wire per message (both ways, receipts included)",
        bob_cpu.as_secs_f64() * 1e6 / messages as f64,
        bytes as f64 / messages as f64
    );
}

/// The whole exchange (bob sends, every device stores and answers, bob
/// takes the receipts), per message.
fn fan_out_exchange(devices: usize, messages: usize) {
    let (mut net, bob_n) = alice_with_devices(devices);
    net.send(bob_n, 0, "warm up");
    let alice = net.key(0);
    let start = Instant::now();
    for i in 0..messages {
        let now = net.now;
        net.nodes[bob_n]
            .engine
            .send_text(now, &alice, &format!("message {i}"))
            .unwrap();
        net.nodes[bob_n].engine.flush(now).unwrap();
        net.pump();
    }
    let took = start.elapsed();
    println!(
        "fan-out to {devices} device(s): whole exchange {:.1} µs/message ({:.0} messages/s)",
        took.as_secs_f64() * 1e6 / messages as f64,
        messages as f64 / took.as_secs_f64()
    );
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let history = args.first().copied().unwrap_or(10_000);
    let messages = args.get(1).copied().unwrap_or(2_000);
    link_with_history(history);
    for devices in [1, 2, 5] {
        fan_out(devices, messages);
        fan_out_exchange(devices, messages);
    }
}
