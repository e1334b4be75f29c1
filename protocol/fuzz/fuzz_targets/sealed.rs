//! Sealed one-way messages and carried envelopes, as a relay or recipient
//! receives them.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::OnceLock;

use cairn_protocol::Identity;
use cairn_protocol::mesh::carried::Carried;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static ME: OnceLock<Identity> = OnceLock::new();
    let me = ME.get_or_init(|| Identity::from_secret_bytes(&[7; 64]));
    let _ = cairn_protocol::sealed::open(me, data);
    if let Ok(c) = Carried::from_bytes(data) {
        assert_eq!(c.to_bytes(), data);
    }
});
