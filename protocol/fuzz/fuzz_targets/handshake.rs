//! An engine fed arbitrary frames on a link: never panics, never grows
//! without bound (the first byte picks how many frames the rest splits into).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::OnceLock;

use cairn_protocol::{Config, Engine, Identity, LinkId, LinkInfo, Medium, MemoryStore, Time};
use libfuzzer_sys::fuzz_target;

fn identity(seed: u8) -> Identity {
    let mut bytes = [seed; 64];
    bytes[0] ^= 0x55;
    Identity::from_secret_bytes(&bytes)
}

fuzz_target!(|data: &[u8]| {
    static PEER: OnceLock<cairn_protocol::IdentityKey> = OnceLock::new();
    let peer = *PEER.get_or_init(|| identity(2).key());
    let now = Time::from_secs(1_700_000_000);
    let mut engine = Engine::new(
        Config::new("fuzz"),
        identity(1),
        MemoryStore::default(),
        [0; 32],
        now,
    )
    .unwrap();
    engine.link_up(
        now,
        LinkInfo {
            id: LinkId(1),
            medium: Medium::Memory,
            peer,
            mtu: 1 << 17,
            since: now,
        },
    );
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let parts = usize::from(n % 8) + 1;
    let size = rest.len() / parts + 1;
    for chunk in rest.chunks(size) {
        engine.handle_frame(now, LinkId(1), chunk);
        let _ = engine.flush(now);
        while engine.poll_output().is_some() {}
    }
});
