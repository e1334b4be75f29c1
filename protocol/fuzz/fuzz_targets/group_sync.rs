//! A group member fed arbitrary group traffic from another member: blobs
//! (vouches, automerge sync messages, whole documents, changes) in sessions
//! and through the mesh, and arbitrary stored group records at start-up.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_protocol::group::groups::Groups;
use cairn_protocol::group::{GroupId, NewDevice, NewMember, Role};
use cairn_protocol::payload::GroupFragment;
use cairn_protocol::{Identity, StoredGroup, Time};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn member(id: &Identity) -> NewMember {
    NewMember {
        identity: id.key(),
        name: "m".into(),
        static_key: id.static_key(),
        devices: Vec::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let alice = Identity::generate(&mut rng);
    let bob = Identity::generate(&mut rng);
    let phone = Identity::generate(&mut rng);
    let now = Time::from_secs(1_700_000_000);
    let mut groups = Groups::new(&alice, true, [1; 32]);
    let g = groups.create(&alice, member(&alice), "fuzz", now).unwrap();
    // Bob with a device of his: the rules for device entries are judged too.
    let mut bob_member = member(&bob);
    bob_member.devices.push(NewDevice {
        identity: phone.key(),
        name: "phone".into(),
        static_key: phone.static_key(),
    });
    groups
        .add(&alice, &g, bob_member, Role::Member, now)
        .unwrap();
    groups.peer_up(bob.key());
    while groups.poll_output().is_some() {}
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 | 1 => {
            for (i, chunk) in rest.chunks(60_000).enumerate() {
                let parts = rest.len().div_ceil(60_000).max(1) as u16;
                let frag = GroupFragment {
                    group: g,
                    serial: 1,
                    part: i as u16,
                    parts,
                    data: chunk.to_vec(),
                };
                groups.on_fragment(bob.key(), frag, mode % 3 == 0, true);
                while groups.poll_output().is_some() {}
            }
            // Still a working group.
            groups
                .post(&alice, &g, cairn_protocol::MessageId([1; 16]), "ok", now)
                .unwrap();
        }
        _ => {
            let mut fresh = Groups::new(&alice, true, [1; 32]);
            let _ = fresh.restore(StoredGroup {
                id: GroupId([3; 16]),
                meta: rest.to_vec(),
                log: vec![(0, rest.to_vec())],
            });
        }
    }
});
