//! What travels without a live session stays secret after the recipient's
//! device is seized (forward secrecy), and becomes secret again after a copy
//! of a device's state was taken (post-compromise security). The attacker
//! records every envelope a relay carries, then gets the recipient's complete
//! state — identity keys and the whole store, as if the passphrase were known
//! — and tries everything that state can do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use cairn_protocol::mesh::carried::Carried;
use cairn_protocol::prekeys::{Prekeys, STORE_PREFIX};
use cairn_protocol::sealed::{self, Inner};
use cairn_protocol::{Direction, Identity, MemoryStore, Store, Time};
use harness::{Net, identity};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const ALICE: usize = 0;
const RELAY: usize = 1;
const BOB: usize = 2;

/// A device's complete state as an attacker holds it.
struct Seized {
    identity: Identity,
    store: MemoryStore,
}

fn seize(net: &Net, n: usize) -> Seized {
    Seized {
        identity: identity(n as u64 + 1),
        store: net.nodes[n].engine.store().clone(),
    }
}

impl Seized {
    /// Everything the seized state can do with a captured envelope: take the
    /// outer layer off, then open the inner one by the static key (a first
    /// contact) or by any ratchet session or prekey it holds.
    fn read(&self, from: &Net, sender: usize, env: &Carried) -> Option<String> {
        let inner = sealed::unwrap(&self.identity, &env.sealed).ok()?;
        let payload = match inner {
            Inner::Static(noise) => sealed::open_static(&self.identity, &noise).ok()?.payload,
            Inner::Ratchet(msg) => {
                let settings = self.store.settings().unwrap();
                let mut keys = Prekeys::load(
                    settings
                        .iter()
                        .filter(|(k, _)| k.starts_with(STORE_PREFIX))
                        .map(|(k, v)| (k.as_str(), v.as_slice())),
                )
                .unwrap();
                let contact = from.nodes[sender].engine.identity();
                let plain = keys
                    .open(
                        &self.identity,
                        &contact.key(),
                        &contact.static_key(),
                        &msg,
                        Time::from_secs(1_700_000_000),
                        &mut ChaCha20Rng::seed_from_u64(7),
                    )
                    .ok()?;
                sealed::read_ratchet_plaintext(&plain).ok()?.1
            }
        };
        match payload {
            cairn_protocol::payload::Payload::Text { text, .. } => Some(text),
            _ => None,
        }
    }
}

fn received(net: &Net, n: usize, from: usize) -> Vec<String> {
    net.history(n, from)
        .into_iter()
        .filter(|m| m.direction == Direction::Incoming)
        .map(|m| m.text)
        .collect()
}

/// Alice writes while Bob is away and the relay takes the envelope: what
/// the attacker records.
fn carry(net: &mut Net, text: &str) -> Carried {
    let before: Vec<_> = net.nodes[RELAY]
        .engine
        .mesh_carried()
        .iter()
        .map(|e| e.id)
        .collect();
    let (to_relay, _) = net.connect(ALICE, RELAY);
    net.send(ALICE, BOB, text);
    net.disconnect(to_relay);
    let new: Vec<Carried> = net.nodes[RELAY]
        .engine
        .mesh_carried()
        .into_iter()
        .filter(|e| !before.contains(&e.id))
        .collect();
    assert_eq!(new.len(), 1, "the relay carries Alice's envelope");
    new[0].clone()
}

/// Alice writes while Bob is away; the relay carries it and the attacker
/// records it; then the relay meets Bob and delivers.
fn through_the_relay(net: &mut Net, text: &str) -> Carried {
    let env = carry(net, text);
    let (to_bob, _) = net.connect(RELAY, BOB);
    net.disconnect(to_bob);
    assert!(received(net, BOB, ALICE).contains(&text.to_owned()));
    env
}

/// Alice and Bob meet (a live session: bundles change hands) and part.
fn meet(net: &mut Net) {
    let (link, _) = net.connect(ALICE, BOB);
    net.disconnect(link);
}

#[test]
fn a_seized_device_cannot_read_what_was_carried_to_it() {
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.befriend(ALICE, BOB);
    meet(&mut net);
    let env = through_the_relay(&mut net, "the meeting is at the mill");
    // The relay saw nothing readable.
    assert!(!env.sealed.windows(4).any(|w| w == b"mill"));
    let seized = seize(&net, BOB);
    assert_eq!(seized.read(&net, ALICE, &env), None);
    // The seized state is whole: a message still in flight is readable to
    // it, which is what forward secrecy does not cover.
    let pending = carry(&mut net, "not yet delivered");
    assert_eq!(
        seize(&net, BOB).read(&net, ALICE, &pending).as_deref(),
        Some("not yet delivered")
    );
}

#[test]
fn before_the_first_meeting_a_message_is_readable_to_a_seized_device() {
    // Without a bundle there is no forward secrecy (a first contact by
    // invite): the test's attacker really can read what is readable.
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.befriend(ALICE, BOB);
    let env = through_the_relay(&mut net, "first words");
    let seized = seize(&net, BOB);
    assert_eq!(
        seized.read(&net, ALICE, &env).as_deref(),
        Some("first words")
    );
}

#[test]
fn after_a_copy_of_the_state_the_next_meeting_makes_messages_secret_again() {
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.befriend(ALICE, BOB);
    meet(&mut net);
    through_the_relay(&mut net, "one");
    // The attacker copies Bob's device (say, at a checkpoint) and gives it back.
    let copy = seize(&net, BOB);
    // Alice and Bob meet again, part, and Alice writes through the relay.
    meet(&mut net);
    let env = through_the_relay(&mut net, "after the checkpoint");
    assert_eq!(copy.read(&net, ALICE, &env), None);
    // Bob himself read it, of course.
    assert!(received(&net, BOB, ALICE).contains(&"after the checkpoint".to_owned()));
}

#[test]
fn replies_through_the_mesh_turn_the_ratchet_without_a_meeting() {
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.befriend(ALICE, BOB);
    meet(&mut net);
    through_the_relay(&mut net, "one");
    let copy = seize(&net, BOB);
    // Bob answers through the relay, Alice answers, Bob answers again: both
    // sides have ratchet keys made after the copy.
    for (from, to, text) in [
        (BOB, ALICE, "two"),
        (ALICE, BOB, "three"),
        (BOB, ALICE, "four"),
    ] {
        let (a, _) = net.connect(from, RELAY);
        net.send(from, to, text);
        net.disconnect(a);
        let (b, _) = net.connect(RELAY, to);
        net.disconnect(b);
        assert!(
            received(&net, to, from).contains(&text.to_owned()),
            "{text} arrived"
        );
    }
    let env = through_the_relay(&mut net, "five");
    assert_eq!(copy.read(&net, ALICE, &env), None);
}
