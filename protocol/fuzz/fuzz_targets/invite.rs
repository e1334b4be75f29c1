//! Contact cards, as bytes and as `cairn:` URIs.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_protocol::ContactCard;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = ContactCard::decode(data) {
        assert_eq!(card.encode(), data);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ContactCard::from_uri(text);
    }
});
