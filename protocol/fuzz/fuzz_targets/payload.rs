//! Padded session payloads (what a peer's session delivers after decryption).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_protocol::payload::Payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Payload::decode_padded(data) {
        let again = p.encode_padded();
        assert_eq!(Payload::decode_padded(&again).as_ref(), Ok(&p));
    }
});
