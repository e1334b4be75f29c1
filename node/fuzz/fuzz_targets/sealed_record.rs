//! Bytes read back from the store: the KDF header and sealed records.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::OnceLock;

use cairn_node::vault::{KdfParams, Vault};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static VAULT: OnceLock<Vault> = OnceLock::new();
    let vault = VAULT.get_or_init(|| {
        let params = KdfParams {
            salt: [7; 16],
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        Vault::derive(b"fuzz", &params).unwrap()
    });
    let _ = KdfParams::decode(data);
    let _ = vault.open("messages", b"key", data);
});
