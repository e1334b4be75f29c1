//! Link frames and the envelopes inside them.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_protocol::envelope::Envelope;
use cairn_protocol::frame::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(data) {
        // Whatever decodes must encode back to the same bytes.
        assert_eq!(frame.encode(), data);
    }
    let _ = Envelope::decode(data);
});
