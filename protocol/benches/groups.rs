//! Group benchmarks (docs/PERFORMANCE.md, "Groups"):
//!
//! 1. A new member joins a group of 100 000 messages: time until it holds
//!    them all, and bytes on the wire against the raw message text.
//! 2. One message in a group of 1 000 members, all in session with the
//!    author: the author's CPU, bytes sent, and each receiver's CPU.
//!
//! `cargo bench -p cairn-protocol --bench groups [-- MESSAGES MEMBERS]`
//! Runs each once (they take seconds, not microseconds) and prints figures.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// A benchmark measures the wall clock; the protocol itself never reads it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::time::Instant;

use cairn_protocol::Identity;
use cairn_protocol::group::groups::{GroupOutput, Groups};
use cairn_protocol::group::{GroupId, NewMember, Role, message_id};
use cairn_protocol::payload::GroupFragment;
use cairn_protocol::time::Time;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

struct Node {
    id: Identity,
    groups: Groups,
}

fn node(rng: &mut ChaCha20Rng) -> Node {
    let id = Identity::generate(rng);
    let groups = Groups::new(&id, false, [rng.next_u32() as u8; 32]);
    Node { id, groups }
}

fn member(n: &Node) -> NewMember {
    NewMember {
        identity: n.id.key(),
        name: format!("member {}", n.id.key().short()),
        static_key: n.id.static_key(),
        devices: Vec::new(),
    }
}

/// Delivers fragments until none are left; returns bytes moved per sender.
fn pump(nodes: &mut [Node], queue: &mut VecDeque<(usize, usize, GroupFragment)>) -> Vec<usize> {
    let mut sent = vec![0usize; nodes.len()];
    for i in 0..nodes.len() {
        collect(nodes, i, queue);
    }
    while let Some((from, to, frag)) = queue.pop_front() {
        sent[from] += frag.data.len();
        let key = nodes[from].id.key();
        nodes[to].groups.on_fragment(key, frag, true, true);
        collect(nodes, to, queue);
    }
    sent
}

fn collect(nodes: &mut [Node], from: usize, queue: &mut VecDeque<(usize, usize, GroupFragment)>) {
    while let Some(out) = nodes[from].groups.poll_output() {
        if let GroupOutput::Send { peer, fragment } = out {
            let to = nodes
                .iter()
                .position(|n| n.id.key() == peer)
                .expect("a known peer");
            queue.push_back((from, to, fragment));
        }
    }
}

fn text(rng: &mut ChaCha20Rng, len: usize) -> String {
    // Random letters and spaces: compresses worse than real chat.
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz      ";
    (0..len)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

fn catch_up(messages: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut nodes = vec![node(&mut rng), node(&mut rng)];
    let now = Time::from_secs(1_700_000_000);
    let me = member(&nodes[0]);
    let n0 = &mut nodes[0];
    let g: GroupId = n0.groups.create(&n0.id, me, "big", now).unwrap();
    let built = Instant::now();
    let mut raw = 0usize;
    for i in 0..messages {
        let t = text(&mut rng, 100);
        raw += t.len();
        let mut random = [0u8; 8];
        rng.fill_bytes(&mut random);
        let at = Time::from_millis(now.as_millis() + i as u64);
        let n0 = &mut nodes[0];
        n0.groups
            .post(&n0.id, &g, message_id(at, random), &t, at)
            .unwrap();
        while n0.groups.poll_output().is_some() {}
    }
    let newcomer = member(&nodes[1]);
    let n0 = &mut nodes[0];
    n0.groups
        .add(&n0.id, &g, newcomer, Role::Member, now)
        .unwrap();
    while n0.groups.poll_output().is_some() {}
    println!(
        "built {messages} messages of 100 characters in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let (k0, k1) = (nodes[0].id.key(), nodes[1].id.key());
    let start = Instant::now();
    nodes[0].groups.peer_up(k1);
    nodes[1].groups.peer_up(k0);
    let mut queue = VecDeque::new();
    let sent = pump(&mut nodes, &mut queue);
    let secs = start.elapsed().as_secs_f64();
    let got = nodes[1].groups.get(&g).map_or(0, |g| g.doc.message_count());
    assert_eq!(got, messages, "the newcomer has every message");
    // …and can read every one (each post's key came with it).
    let sealed = nodes[1].groups.get(&g).map_or(messages, |g| {
        g.messages()
            .iter()
            .filter(|m| m.text == cairn_protocol::group::groups::SEALED_TEXT)
            .count()
    });
    assert_eq!(sealed, 0, "posts the newcomer cannot read");
    let wire = sent[0] + sent[1];
    println!(
        "catch-up: {secs:.2} s; wire {wire} B ({} from the member, {} back) = {:.3} × the raw text ({raw} B)",
        sent[0],
        sent[1],
        wire as f64 / raw as f64
    );
}

fn fan_out(members: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut nodes: Vec<Node> = (0..members).map(|_| node(&mut rng)).collect();
    let now = Time::from_secs(1_700_000_000);
    let me = member(&nodes[0]);
    let n0 = &mut nodes[0];
    let g = n0.groups.create(&n0.id, me, "crowd", now).unwrap();
    for i in 1..members {
        let m = member(&nodes[i]);
        let n0 = &mut nodes[0];
        n0.groups.add(&n0.id, &g, m, Role::Member, now).unwrap();
        while n0.groups.poll_output().is_some() {}
    }
    // Everyone in session with the author, and in sync.
    let k0 = nodes[0].id.key();
    let setup = Instant::now();
    let mut queue = VecDeque::new();
    for i in 1..members {
        let ki = nodes[i].id.key();
        nodes[0].groups.peer_up(ki);
        nodes[i].groups.peer_up(k0);
        pump(&mut nodes, &mut queue);
    }
    println!(
        "{members} members joined and synced in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    // One message at a time, five times: the median of each figure.
    let mut rounds = Vec::new();
    for round in 0..5u64 {
        let t = text(&mut rng, 100);
        let start = Instant::now();
        let at = Time::from_millis(now.as_millis() + 1000 * (round + 1));
        let n0 = &mut nodes[0];
        n0.groups
            .post(&n0.id, &g, message_id(at, [7 + round as u8; 8]), &t, at)
            .unwrap();
        let mut out = VecDeque::new();
        let mut author_bytes = 0usize;
        let mut fragments = 0usize;
        while let Some(o) = nodes[0].groups.poll_output() {
            if let GroupOutput::Send { peer, fragment } = o {
                author_bytes += fragment.data.len();
                fragments += 1;
                out.push_back((peer, fragment));
            }
        }
        let author_cpu = start.elapsed().as_secs_f64();
        // Each member receives and answers; the author reads the answers.
        let recv = Instant::now();
        let mut back = 0usize;
        while let Some((peer, fragment)) = out.pop_front() {
            let i = nodes.iter().position(|n| n.id.key() == peer).unwrap();
            nodes[i].groups.on_fragment(k0, fragment, true, true);
            while let Some(o) = nodes[i].groups.poll_output() {
                if let GroupOutput::Send { fragment, .. } = o {
                    back += fragment.data.len();
                    queue.push_back((i, 0, fragment));
                }
            }
        }
        let receivers_cpu = recv.elapsed().as_secs_f64();
        let acks = Instant::now();
        let rest = pump(&mut nodes, &mut queue);
        let ack_cpu = acks.elapsed().as_secs_f64();
        rounds.push((
            author_cpu,
            author_bytes,
            fragments,
            receivers_cpu,
            back,
            ack_cpu,
            rest.iter().sum::<usize>(),
        ));
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (author_cpu, author_bytes, fragments, _, back, _, rest) = rounds[2];
    let mut recv: Vec<f64> = rounds.iter().map(|r| r.3).collect();
    recv.sort_by(f64::total_cmp);
    let mut acks: Vec<f64> = rounds.iter().map(|r| r.5).collect();
    acks.sort_by(f64::total_cmp);
    let (receivers_cpu, ack_cpu) = (recv[2], acks[2]);
    let have = (1..members)
        .filter(|i| {
            nodes[*i]
                .groups
                .get(&g)
                .map_or(0, |g| g.doc.message_count())
                == 5
        })
        .count();
    assert_eq!(have, members - 1, "every member has the message");
    println!(
        "fan-out to {} members (median of 5 messages): author {:.1} ms CPU, {author_bytes} B in {fragments} messages ({:.0} B each); \
         each receiver {:.2} ms CPU; replies {back} B; author reads replies in {:.1} ms; then {} B more",
        members - 1,
        author_cpu * 1e3,
        author_bytes as f64 / fragments.max(1) as f64,
        receivers_cpu * 1e3 / (members - 1) as f64,
        ack_cpu * 1e3,
        rest
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let messages = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let members = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    catch_up(messages);
    fan_out(members);
}
