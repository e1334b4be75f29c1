//! The seeds in `seeds/` still pass every target (see `protocol/fuzz/tests/common/replay.rs`).

#![allow(clippy::expect_used, clippy::panic)]

#[path = "../../../protocol/fuzz/tests/common/replay.rs"]
mod replay;

#[test]
fn stream_framing() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "stream_framing",
        env!("CARGO_BIN_EXE_stream_framing"),
    );
}

#[test]
fn hop() {
    replay::replay(env!("CARGO_MANIFEST_DIR"), "hop", env!("CARGO_BIN_EXE_hop"));
}

#[test]
fn ble_packets() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "ble_packets",
        env!("CARGO_BIN_EXE_ble_packets"),
    );
}
