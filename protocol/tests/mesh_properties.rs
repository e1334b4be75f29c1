//! Properties of store and forward: relays never learn a recipient they do
//! not already know, and a relay's quotas hold under floods from one origin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::Duration;

use cairn_protocol::Identity;
use cairn_protocol::mesh::carried::{Carried, EnvelopeId};
use cairn_protocol::mesh::carrier::{Carrier, CarrierLimits, Origin};
use cairn_protocol::mesh::tag::{SLOTS, Tag, pair_key, tag};
use cairn_protocol::mesh::{Mesh, MeshConfig, Recognised};
use cairn_protocol::{MessageId, Time};
use harness::Net;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever crosses the relay's links, and whatever it keeps, holds no key
    /// of sender or recipient; the relay does not recognise the recipient
    /// even when the recipient is its own contact (tags are keyed by what
    /// only sender and recipient share).
    #[test]
    fn relays_never_learn_a_recipient_they_do_not_know(
        relay_knows_recipient in any::<bool>(),
        relay_knows_sender in any::<bool>(),
        text in "[a-z][a-z ]{0,199}",
        hours in 0u64..48,
    ) {
        let mut net = Net::new(&["alice", "relay", "carol"]);
        net.advance(Duration::from_secs(hours * 3600));
        net.befriend(0, 2);
        if relay_knows_recipient { net.add(1, 2); }
        if relay_knows_sender { net.add(1, 0); }
        net.connect(0, 1);
        let before = net.wire_log.len();
        net.send(0, 2, &text);
        let carried: Vec<Carried> = net.nodes[1].engine.mesh_carried();
        prop_assert_eq!(carried.len(), 1);
        let env = carried[0].clone();
        let (alice, carol) = (net.key(0), net.key(2));
        let statics = [net.nodes[0].engine.identity().static_key(), net.invite(2).static_key()];
        for (_, frame) in &net.wire_log[before..] {
            for key in [alice.as_bytes().as_slice(), carol.as_bytes(), &statics[0].0, &statics[1].0] {
                prop_assert!(!contains(frame, key), "a key crossed the relay's link in the clear");
            }
            prop_assert!(!contains(frame, text.as_bytes()) || text.len() < 4);
        }
        let relay_id = net.nodes[1].engine.identity();
        let keys: Vec<_> = net.nodes[1]
            .engine
            .contacts()
            .filter_map(|c| Some((pair_key(relay_id, &c.static_key())?, c.identity)))
            .collect();
        // Every tag the relay could compute for the recipient, in any slot.
        for (key, _) in &keys {
            for slot in 0..SLOTS {
                prop_assert_ne!(tag(key, &carol, env.epoch, slot), env.tag);
            }
        }
        let mut mesh = Mesh::new(MeshConfig::default());
        mesh.set_tag_keys(keys);
        let relay = net.key(1);
        prop_assert_eq!(mesh.recognise(&relay, &env, net.now), Recognised::Other);
    }

    /// The same recipient's tag changes every epoch and slot, and differs
    /// between recipients and senders.
    #[test]
    fn tags_rotate_and_do_not_collide(seed in any::<u64>(), epoch in 0u32..1_000_000) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (a, b, c) = (
            Identity::generate(&mut rng),
            Identity::generate(&mut rng),
            Identity::generate(&mut rng),
        );
        let ab = pair_key(&a, &b.static_key()).unwrap();
        let cb = pair_key(&c, &b.static_key()).unwrap();
        let to_b = b.key();
        prop_assert_ne!(tag(&ab, &to_b, epoch, 0), tag(&ab, &to_b, epoch + 1, 0));
        prop_assert_ne!(tag(&ab, &to_b, epoch, 0), tag(&ab, &to_b, epoch, 1));
        prop_assert_ne!(tag(&ab, &to_b, epoch, 0), tag(&ab, &a.key(), epoch, 0));
        prop_assert_ne!(tag(&ab, &to_b, epoch, 0), tag(&cb, &to_b, epoch, 0));
    }

    /// A flood from one neighbour never takes more than its share; the total
    /// never exceeds capacity; the node's own envelopes are never evicted; and
    /// when full, what goes is what expires soonest.
    #[test]
    fn quotas_hold_under_a_flood_from_one_origin(
        flood in proptest::collection::vec((1usize..4000, 1u64..10_000), 1..400),
        others in proptest::collection::vec((0usize..3, 1usize..4000, 1u64..10_000), 0..200),
        own in 0usize..5,
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let flooder = Identity::generate(&mut rng).key();
        let neighbours: Vec<_> = (0..3).map(|_| Identity::generate(&mut rng).key()).collect();
        let limits = CarrierLimits { capacity_bytes: 64 * 1024, max_share_percent: 25, ..CarrierLimits::default() };
        let mut carrier = Carrier::new(limits);
        let now = Time::from_secs(1000);
        let mut next = 0u32;
        let mut env = |size: usize, life: u64| {
            next += 1;
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&next.to_be_bytes());
            Carried {
                id: EnvelopeId(id),
                epoch: 0,
                tag: Tag([0; 16]),
                expiry: now + Duration::from_secs(life),
                hop_limit: 8,
                copies: 1,
                ack_hash: [0; 16],
                sealed: vec![0; size],
            }
        };
        let mut own_ids = Vec::new();
        for i in 0..own {
            let e = env(3000, 5);
            own_ids.push(e.id);
            carrier.accept(e, Origin::Own { peer: flooder, message: MessageId([i as u8; 16]) }, now).unwrap();
        }
        let share = limits.capacity_bytes / 4;
        let mut o = others.into_iter();
        for (size, life) in flood {
            let _ = carrier.accept(env(size, life), Origin::Relayed { from: flooder }, now);
            if let Some((n, size, life)) = o.next() {
                let _ = carrier.accept(env(size, life), Origin::Relayed { from: neighbours[n] }, now);
            }
            prop_assert!(carrier.share_of(&flooder) <= share);
            prop_assert!(carrier.relayed_bytes() <= limits.capacity_bytes);
            for id in &own_ids {
                prop_assert!(carrier.get(id).is_some(), "own envelope evicted");
            }
        }
    }
}
