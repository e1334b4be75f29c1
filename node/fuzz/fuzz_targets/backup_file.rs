//! A backup file read back (`cairn restore`): the chunk framing behind a
//! valid header (first byte even), or the records inside (first byte odd).
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used)]
use cairn_node::backup::{fuzz_file, fuzz_records};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        let _ = fuzz_records(rest);
    } else {
        let dir = tempfile::tempdir().unwrap();
        let _ = fuzz_file(rest, &dir.path().join("cairn.redb"));
    }
});
