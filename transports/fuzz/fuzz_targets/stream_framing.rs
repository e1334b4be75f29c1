//! The length-prefixed stream decoder, fed in arbitrary pieces.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_transports::framing::{FrameDecoder, FrameReader};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut d = FrameDecoder::new(MAX);
    for piece in rest.chunks(step) {
        d.push(piece);
        loop {
            match d.next_frame() {
                Ok(Some(frame)) => assert!(frame.len() <= MAX),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(d.buffered() <= MAX + 4 + step);
    }
});
