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
        match self.open(from, sender, env)? {
            cairn_protocol::payload::Payload::Text { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whatever payload the seized state gets out of `env`, if any.
    fn open(
        &self,
        from: &Net,
        sender: usize,
        env: &Carried,
    ) -> Option<cairn_protocol::payload::Payload> {
        // The outer layer is sealed to the static key the attacker holds: it
        // must always come off (else "cannot read" would prove nothing).
        let inner = sealed::unwrap(&self.identity, &env.sealed).expect("outer layer opens");
        let payload = match inner {
            Inner::Static(noise) => sealed::open_static(&self.identity, &noise).ok()?.payload,
            Inner::Ratchet(msg) => {
                let settings = self.store.settings().unwrap();
                let load = || {
                    Prekeys::load(
                        settings
                            .iter()
                            .filter(|(k, _)| k.starts_with(STORE_PREFIX))
                            .map(|(k, v)| (k.as_str(), v.as_slice())),
                    )
                    .unwrap()
                };
                let contact = from.nodes[sender].engine.identity();
                let try_open = |keys: &mut Prekeys| {
                    keys.open(
                        &self.identity,
                        &contact.key(),
                        &contact.static_key(),
                        &msg,
                        Time::from_secs(1_700_000_000),
                        &mut ChaCha20Rng::seed_from_u64(7),
                    )
                    .ok()
                };
                // The sessions as stored, then the prekeys alone (starting
                // the session over from whatever prekey secrets are left).
                let mut keys = load();
                let plain = try_open(&mut keys).or_else(|| {
                    let mut fresh = load();
                    fresh.forget_sessions(&contact.key());
                    try_open(&mut fresh)
                })?;
                sealed::read_ratchet_plaintext(&plain).ok()?.1
            }
        };
        Some(payload)
    }
}

/// Whether an envelope for Bob was sealed in a ratchet session (not Noise X).
fn in_the_ratchet(env: &Carried) -> bool {
    matches!(
        sealed::unwrap(&identity(BOB as u64 + 1), &env.sealed).unwrap(),
        Inner::Ratchet(_)
    )
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

/// Alice and Bob meet for a minute (a live session opens for the bundles
/// even with nothing to say) and part.
fn meet(net: &mut Net) {
    let (link, _) = net.connect(ALICE, BOB);
    net.advance(std::time::Duration::from_secs(60));
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
fn before_the_first_meeting_a_message_is_secret_only_once_the_invite_prekey_is_deleted() {
    // Alice has only Bob's invite, whose signed prekey is all she can use:
    // the test's attacker really can read what is readable...
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.befriend(ALICE, BOB);
    let env = through_the_relay(&mut net, "first words");
    assert!(in_the_ratchet(&env));
    let seized = seize(&net, BOB);
    assert_eq!(
        seized.read(&net, ALICE, &env).as_deref(),
        Some("first words")
    );
    // ...until the prekey's secret is deleted on its schedule.
    net.advance(cairn_protocol::prekeys::SPK_KEEP + std::time::Duration::from_secs(3600));
    let (link, _) = net.connect(BOB, RELAY);
    net.disconnect(link);
    let seized = seize(&net, BOB);
    assert_eq!(seized.read(&net, ALICE, &env), None);
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

/// A relay that carries everything for a simulated week, and a passive
/// observer who knows every public key, look at what they recorded: no tag
/// repeats (so no two envelopes are linked to one recipient by it), no tag is
/// one anyone could compute from public keys, every sealed length is one of
/// the few sizes whoever sent it, and no key of anyone appears in the clear.
#[test]
fn a_relay_learns_nothing_linkable_in_a_week() {
    use cairn_protocol::mesh::tag::epoch_of;
    use cairn_protocol::sealed::SEALED_SIZES;
    use rand_core::RngCore;
    use sha2::{Digest, Sha256};
    use std::collections::BTreeSet;
    use std::time::Duration;

    let names = ["relay", "a", "b", "c", "d", "e"];
    let mut net = Net::new(&names);
    let people: Vec<usize> = (1..names.len()).collect();
    for &x in &people {
        for &y in &people {
            if x < y {
                net.befriend(x, y);
                let (l, _) = net.connect(x, y);
                net.advance(Duration::from_secs(60));
                net.disconnect(l);
            }
        }
    }
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let mut seen: Vec<(usize, Carried)> = Vec::new();
    let mut ids = BTreeSet::new();
    for hour in 0..168 {
        for _ in 0..2 {
            let from = people[(rng.next_u32() as usize) % people.len()];
            let mut to = people[(rng.next_u32() as usize) % people.len()];
            if to == from {
                to = people[(people.iter().position(|p| *p == from).unwrap() + 1) % people.len()];
            }
            let (l, _) = net.connect(from, RELAY);
            net.send(from, to, &format!("hour {hour} from {from}"));
            net.disconnect(l);
            for env in net.nodes[RELAY].engine.mesh_carried() {
                if ids.insert(env.id) {
                    seen.push((to, env));
                }
            }
        }
        net.advance(Duration::from_secs(3600));
    }
    assert!(seen.len() >= 300, "{} envelopes recorded", seen.len());
    let tags: BTreeSet<_> = seen.iter().map(|(_, e)| e.tag).collect();
    assert_eq!(tags.len(), seen.len(), "a tag repeated");
    // What the observer can compute: every public key, hashed with every
    // epoch in the old (unkeyed) way, and the keys themselves.
    let mut public: Vec<Vec<u8>> = Vec::new();
    for n in 0..names.len() {
        public.push(net.key(n).as_bytes().to_vec());
        public.push(net.nodes[n].engine.identity().static_key().0.to_vec());
    }
    for (_, env) in &seen {
        assert!(
            SEALED_SIZES.contains(&env.sealed.len()),
            "{}",
            env.sealed.len()
        );
        for key in &public {
            assert!(!env.sealed.windows(32).any(|w| w == key.as_slice()));
            let guess = Sha256::new()
                .chain_update(b"cairn/tag/v1")
                .chain_update(key)
                .chain_update(env.epoch.to_be_bytes())
                .finalize();
            assert_ne!(&guess[..16], &env.tag.0[..]);
        }
        assert!(env.epoch <= epoch_of(net.now, Duration::from_secs(3600)));
    }
    // Lengths say nothing about who wrote: same-bucket texts from every
    // sender to every recipient sealed to one size.
    let sizes: BTreeSet<usize> = seen.iter().map(|(_, e)| e.sealed.len()).collect();
    assert_eq!(sizes.len(), 1, "sizes {sizes:?}");
}

/// A group post pushed through the mesh to a member who is away: once
/// delivered, the member's seized state cannot open the recorded envelope
/// either (group pushes are sealed in the same ratchet session as texts).
#[test]
fn a_seized_device_cannot_read_a_group_push_carried_to_it() {
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.befriend(ALICE, BOB);
    let now = net.now;
    let bob = net.key(BOB);
    let g = net.nodes[ALICE]
        .engine
        .group_create(now, "walkers")
        .unwrap();
    net.nodes[ALICE].engine.group_add(now, &g, &bob).unwrap();
    net.nodes[ALICE].engine.flush(now).unwrap();
    meet(&mut net);
    assert!(net.nodes[BOB].engine.group(&g).is_some(), "bob joined");
    let before: Vec<_> = net.nodes[RELAY]
        .engine
        .mesh_carried()
        .iter()
        .map(|e| e.id)
        .collect();
    let (to_relay, _) = net.connect(ALICE, RELAY);
    net.nodes[ALICE]
        .engine
        .group_send(now, &g, "by the well at noon")
        .unwrap();
    net.nodes[ALICE].engine.flush(now).unwrap();
    net.pump();
    net.disconnect(to_relay);
    let pushed: Vec<Carried> = net.nodes[RELAY]
        .engine
        .mesh_carried()
        .into_iter()
        .filter(|e| !before.contains(&e.id))
        .collect();
    assert!(!pushed.is_empty(), "the push went to the relay");
    let (to_bob, _) = net.connect(RELAY, BOB);
    net.advance(std::time::Duration::from_secs(60));
    net.disconnect(to_bob);
    let texts: Vec<String> = net.nodes[BOB]
        .engine
        .group(&g)
        .unwrap()
        .messages()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(
        texts.contains(&"by the well at noon".to_owned()),
        "{texts:?}"
    );
    let seized = seize(&net, BOB);
    for env in &pushed {
        assert!(in_the_ratchet(env), "sealed in the ratchet");
        assert_eq!(seized.open(&net, ALICE, env), None);
    }
}

/// Someone who added Bob from his invite (Bob does not know them) writes
/// through the mesh: the first message carries their card beside the
/// ratchet's init, so Bob gets a contact request and the text.
#[test]
fn a_first_message_from_someone_with_our_invite_arrives_through_the_mesh() {
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.add(ALICE, BOB);
    let env = through_the_relay(&mut net, "we met at the market");
    assert!(in_the_ratchet(&env));
    let contact = net.nodes[BOB].engine.contact(&net.key(ALICE)).unwrap();
    assert_eq!(contact.origin, cairn_protocol::ContactOrigin::Request);
}

#[test]
fn the_receipt_comes_back_through_the_relay() {
    let mut net = Net::new(&["alice", "relay", "bob"]);
    net.befriend(ALICE, BOB);
    meet(&mut net);
    through_the_relay(&mut net, "did you get this");
    let (l, _) = net.connect(RELAY, ALICE);
    net.disconnect(l);
    let state = net
        .history(ALICE, BOB)
        .into_iter()
        .find(|m| m.text == "did you get this")
        .unwrap()
        .state;
    assert_eq!(state, cairn_protocol::DeliveryState::Delivered);
}
