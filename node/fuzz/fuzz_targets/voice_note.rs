//! Voice notes from the network: arbitrary bytes read as Ogg Opus. The
//! decoder must refuse or decode — bounded to `voice::MAX_SECS` of audio
//! however the file is made — and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(samples) = cairn_node::voice::decode(data) {
        assert!(
            samples.len() as u64
                <= cairn_node::voice::MAX_SECS * u64::from(cairn_node::voice::RATE)
        );
    }
});
