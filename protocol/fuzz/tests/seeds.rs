//! The seeds in `seeds/` still pass every target (see `protocol/fuzz/tests/common/replay.rs`).

#![allow(clippy::expect_used, clippy::panic)]

#[path = "common/replay.rs"]
mod replay;

#[test]
fn frame() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "frame",
        env!("CARGO_BIN_EXE_frame"),
    );
}

#[test]
fn payload() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "payload",
        env!("CARGO_BIN_EXE_payload"),
    );
}

#[test]
fn message_ops() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "message_ops",
        env!("CARGO_BIN_EXE_message_ops"),
    );
}

#[test]
fn invite() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "invite",
        env!("CARGO_BIN_EXE_invite"),
    );
}

#[test]
fn records() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "records",
        env!("CARGO_BIN_EXE_records"),
    );
}

#[test]
fn handshake() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "handshake",
        env!("CARGO_BIN_EXE_handshake"),
    );
}

#[test]
fn sealed() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "sealed",
        env!("CARGO_BIN_EXE_sealed"),
    );
}

#[test]
fn group_post() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "group_post",
        env!("CARGO_BIN_EXE_group_post"),
    );
}

#[test]
fn group_sync() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "group_sync",
        env!("CARGO_BIN_EXE_group_sync"),
    );
}

#[test]
fn file_transfer() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "file_transfer",
        env!("CARGO_BIN_EXE_file_transfer"),
    );
}

#[test]
fn group_chunks() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "group_chunks",
        env!("CARGO_BIN_EXE_group_chunks"),
    );
}

#[test]
fn group_files() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "group_files",
        env!("CARGO_BIN_EXE_group_files"),
    );
}
