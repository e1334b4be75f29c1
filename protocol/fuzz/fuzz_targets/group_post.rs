//! What a hostile member writes into its own message slots: arbitrary
//! values (plain, "sealed" under keys nobody has, tombstones, operation
//! bodies naming any slot), read back by a member folding replies,
//! reactions, edits and deletions — and arbitrary bodies decoded directly.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_protocol::group::groups::Groups;
use cairn_protocol::group::posts::Post;
use cairn_protocol::group::{NewMember, message_id};
use cairn_protocol::{Identity, Time};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A body that decodes re-encodes to itself.
    for part in text.split('\0') {
        if let Some(post) = Post::decode(part) {
            assert_eq!(Post::decode(&post.encode()), Some(post));
        }
    }
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let alice = Identity::generate(&mut rng);
    let now = Time::from_secs(1_700_000_000);
    let mut groups = Groups::new(&alice, true, [1; 32]);
    let me = NewMember {
        identity: alice.key(),
        name: "m".into(),
        static_key: alice.static_key(),
        devices: Vec::new(),
    };
    let g = groups.create(&alice, me, "fuzz", now).unwrap();
    let group = groups.get_mut(&g).unwrap();
    for (i, value) in text.split('\0').take(64).enumerate() {
        let id = message_id(now, (i as u64).to_be_bytes());
        if value.len() <= 100_000 {
            let _ = group.doc.post(id, value, now);
        }
    }
    let shown = group.messages();
    assert!(shown.len() <= 64);
    groups.handle_timeout(now);
});
