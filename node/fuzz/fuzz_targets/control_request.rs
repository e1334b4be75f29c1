//! A line on the control socket.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_node::Request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Request>(data);
});
