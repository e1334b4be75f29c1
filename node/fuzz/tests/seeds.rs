//! The seeds in `seeds/` still pass every target (see `protocol/fuzz/tests/common/replay.rs`).

#![allow(clippy::expect_used, clippy::panic)]

#[path = "../../../protocol/fuzz/tests/common/replay.rs"]
mod replay;

#[test]
fn control_request() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "control_request",
        env!("CARGO_BIN_EXE_control_request"),
    );
}

#[test]
fn sealed_record() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "sealed_record",
        env!("CARGO_BIN_EXE_sealed_record"),
    );
}

#[test]
fn gateway_stanza() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "gateway_stanza",
        env!("CARGO_BIN_EXE_gateway_stanza"),
    );
}

#[test]
fn backup_file() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "backup_file",
        env!("CARGO_BIN_EXE_backup_file"),
    );
}

#[test]
fn voice_note() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "voice_note",
        env!("CARGO_BIN_EXE_voice_note"),
    );
}
