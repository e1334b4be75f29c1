//! The seeds in `seeds/` still pass every target (see `protocol/fuzz/tests/common/replay.rs`).

#![allow(clippy::expect_used, clippy::panic)]

#[path = "../../../protocol/fuzz/tests/common/replay.rs"]
mod replay;

#[test]
fn scenario() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "scenario",
        env!("CARGO_BIN_EXE_scenario"),
    );
}
