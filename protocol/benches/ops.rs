//! Bytes on the wire per reply, reaction, edit and deletion
//! (docs/PERFORMANCE.md, "Chat operations"), beside a plain text of the same
//! length, over a live session and through a mesh relay — and in a group of
//! two over a live session (each post with its own key beside it; a voice
//! note's post and its content fetched by the other member).
//!
//! Everything runs in memory on real engines (the protocol's scenario
//! harness): each operation's frames and its receipt's are counted, both
//! directions, as they cross the links. The figures are exact, not timed.
//! `cargo bench -p cairn-protocol --bench ops`

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/harness/mod.rs"]
mod harness;

use cairn_protocol::message::OpKind;
use harness::Net;

fn wire(net: &Net) -> (usize, usize) {
    let bytes = net.wire_log.iter().map(|(_, f)| f.len()).sum();
    (net.wire_log.len(), bytes)
}

/// Frames and bytes that `f` puts on the wire (the message and its receipt).
fn cost(net: &mut Net, f: impl FnOnce(&mut Net)) -> (usize, usize) {
    let before = wire(net);
    f(net);
    let after = wire(net);
    (after.0 - before.0, after.1 - before.1)
}

fn op(
    net: &mut Net,
    from: usize,
    to: usize,
    kind: OpKind,
    target: cairn_protocol::MessageId,
    text: &str,
) {
    let peer = net.key(to);
    let now = net.now;
    net.nodes[from]
        .engine
        .send_op(now, &peer, None, kind, target, text)
        .unwrap();
    net.nodes[from].engine.flush(now).unwrap();
    net.pump();
}

/// Runs every operation from alice to `to` (carol, node 2) and prints a row each.
fn measure(net: &mut Net, path: &str) {
    let target = net.send(0, 2, "meet at the bridge at six");
    let rows: Vec<(&str, (usize, usize))> = vec![
        (
            "text (20 bytes)",
            cost(net, |n| {
                n.send(0, 2, "yes, at the bridge!!");
            }),
        ),
        (
            "reply (20 bytes)",
            cost(net, |n| {
                op(n, 0, 2, OpKind::Reply, target, "yes, at the bridge!!")
            }),
        ),
        (
            "reaction 👍",
            cost(net, |n| op(n, 0, 2, OpKind::React, target, "👍")),
        ),
        (
            "reaction 👩🏽‍💻 (15 bytes)",
            cost(net, |n| op(n, 0, 2, OpKind::React, target, "👩🏽‍💻")),
        ),
        (
            "edit (20 bytes)",
            cost(net, |n| {
                op(n, 0, 2, OpKind::Edit, target, "meet at seven rather")
            }),
        ),
        (
            "delete",
            cost(net, |n| op(n, 0, 2, OpKind::Delete, target, "")),
        ),
    ];
    for (what, (frames, bytes)) in rows {
        println!("{path:<22} {what:<26} {frames:>3} frames {bytes:>6} bytes");
    }
}

/// Every operation in a group alice made with carol (live session), a row
/// each: the change, its post key, the sync replies, counted both ways.
fn measure_group(net: &mut Net) {
    use cairn_protocol::group::groups::GroupOp;
    let now = net.now;
    let carol = net.key(2);
    let g = net.nodes[0].engine.group_create(now, "walkers").unwrap();
    net.nodes[0].engine.group_add(now, &g, &carol).unwrap();
    net.nodes[0].engine.flush(now).unwrap();
    net.pump();
    let group =
        |n: &mut Net, f: &dyn Fn(&mut cairn_protocol::Engine<_>) -> cairn_protocol::MessageId| {
            let id = f(&mut n.nodes[0].engine);
            n.nodes[0].engine.flush(now).unwrap();
            n.pump();
            id
        };
    let target = group(net, &|e| {
        e.group_send(now, &g, "meet at the bridge at six").unwrap()
    });
    let rows: Vec<(&str, (usize, usize))> = vec![
        (
            "text (20 bytes)",
            cost(net, |n| {
                group(n, &|e| {
                    e.group_send(now, &g, "yes, at the bridge!!").unwrap()
                });
            }),
        ),
        (
            "reply (20 bytes)",
            cost(net, |n| {
                group(n, &|e| {
                    e.group_operate(
                        now,
                        &g,
                        GroupOp::Reply {
                            to: target,
                            text: "yes, at the bridge!!".into(),
                        },
                    )
                    .unwrap()
                });
            }),
        ),
        (
            "reaction 👍",
            cost(net, |n| {
                group(n, &|e| {
                    e.group_operate(
                        now,
                        &g,
                        GroupOp::React {
                            to: target,
                            emoji: "👍".into(),
                        },
                    )
                    .unwrap()
                });
            }),
        ),
        (
            "edit (20 bytes)",
            cost(net, |n| {
                group(n, &|e| {
                    e.group_operate(
                        now,
                        &g,
                        GroupOp::Edit {
                            to: target,
                            text: "meet at seven rather".into(),
                        },
                    )
                    .unwrap()
                });
            }),
        ),
        (
            "delete",
            cost(net, |n| {
                group(n, &|e| {
                    e.group_operate(now, &g, GroupOp::Delete { to: target })
                        .unwrap()
                });
            }),
        ),
        (
            "voice note (84 107 B)",
            cost(net, |n| {
                // The size of a minute of speech (the voice bench's note):
                // the post, then carol fetching the content from alice.
                let note: Vec<u8> = (0..84_107u32).map(|i| (i * 31 % 251) as u8).collect();
                let id = group(n, &|e| {
                    e.group_send_file(now, &g, "voice-note.ogg", "audio/ogg", &note)
                        .unwrap()
                });
                let held = n.nodes[2].engine.group_file_data(&g, &id).unwrap();
                assert_eq!(held.map(|(_, d)| d), Some(note), "carol holds the note");
            }),
        ),
    ];
    for (what, (frames, bytes)) in rows {
        println!(
            "{:<22} {what:<26} {frames:>3} frames {bytes:>6} bytes",
            "group (session)"
        );
    }
}

fn main() {
    // Over a live session: alice — carol.
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 2);
    net.connect(0, 2);
    measure(&mut net, "session");

    // Through bob, a stranger: alice — bob — carol.
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 2);
    net.connect(0, 1);
    net.connect(1, 2);
    measure(&mut net, "mesh (one relay)");

    // A group of two over a live session.
    let mut net = Net::new(&["alice", "bob", "carol"]);
    net.befriend(0, 2);
    net.connect(0, 2);
    measure_group(&mut net);
}
