//! Sealed messages and carried envelopes, as a relay or recipient receives
//! them: the outer layer, both inner kinds, prekey bundles, and the prekey
//! records read back from disk.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::OnceLock;

use cairn_protocol::Identity;
use cairn_protocol::mesh::carried::Carried;
use cairn_protocol::prekeys::{Bundle, Prekeys};
use cairn_protocol::sealed::{self, Inner};
use cairn_protocol::wire::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static ME: OnceLock<Identity> = OnceLock::new();
    let me = ME.get_or_init(|| Identity::from_secret_bytes(&[7; 64]));
    let _ = sealed::open(me, data);
    let _ = sealed::open_static(me, data);
    if let Ok(inner) = Inner::decode(data) {
        assert_eq!(Inner::decode(&inner.encode()).unwrap(), inner);
    }
    let _ = Bundle::decode(&mut Reader::new(data));
    let _ = Prekeys::load([("fs/spk", data)]);
    static PEER: OnceLock<String> = OnceLock::new();
    let peer = PEER.get_or_init(|| {
        let hex: String = me
            .key()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("fs/peer/{hex}")
    });
    let _ = Prekeys::load([(peer.as_str(), data)]);
    let _ = sealed::read_ratchet_plaintext(data);
    if let Ok(c) = Carried::from_bytes(data) {
        assert_eq!(c.to_bytes(), data);
    }
});
